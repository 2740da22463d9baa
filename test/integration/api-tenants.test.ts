import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { createClient } from "redis";
import { WebSocket } from "ws";
import { AUDIT_LOG_NAME } from "../../app/store/audit-log-file.ts";
import { buildDicom } from "../fixtures/dicom.ts";
import { eicar } from "../fixtures/eicar.ts";
import { call, startApiApp, upload, type ApiApp } from "../harness/api-app.ts";
import { ROOT } from "../harness/clamd.ts";
import { eventually, startServiceStack, TEST_DATABASE, TEST_DATABASE_NAME, type ServiceStack } from "../harness/service-stack.ts";

const run = promisify(execFile);

interface Message {
  type: string;
  fileId?: string;
  jobId?: string;
  userId?: string;
  fileName?: string;
  result?: { status: string };
  data?: { totalScans: number };
}

/** A WebSocket client that keeps every message it receives. */
async function listen(url: string, headers: Record<string, string> = {}): Promise<{ ws: WebSocket; messages: Message[] }> {
  const ws = new WebSocket(url, { headers });
  const messages: Message[] = [];
  ws.on("message", (data) => messages.push(JSON.parse(String(data)) as Message));
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  return { ws, messages };
}

/** The HTTP status a WebSocket handshake is refused with. */
function refusedWith(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
    ws.once("open", () => reject(new Error("the handshake was accepted")));
    ws.once("error", () => undefined);
  });
}

/** A handshake done by hand: a client that then never reads and never answers a ping. */
async function deafClient(port: number, token: string): Promise<net.Socket> {
  const socket = net.connect(port, "127.0.0.1");
  await new Promise((r) => socket.once("connect", r));
  socket.write(`GET /ws?token=${token} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  const head = await new Promise<string>((r) => socket.once("data", (d: Buffer) => r(d.toString())));
  assert.match(head, /^HTTP\/1.1 101/);
  socket.pause();
  return socket;
}

describe(`tenants, WebSockets and the audit trail (real app, Redis, clamd, ${TEST_DATABASE_NAME})`, () => {
  let stack: ServiceStack;
  let app: ApiApp;
  let env: Record<string, string>;
  before(async () => {
    stack = await startServiceStack();
    env = { ...stack.env, WS_MAX_BUFFERED_BYTES: String(256 * 1024) };
    app = await startApiApp(stack, env);
  });
  after(async () => {
    await app.close();
    await stack.close();
  });

  it("two users, two sockets: neither sees the other's events, nor reads, rescans or downloads the other's file", async () => {
    const [ann, bob, root] = [await app.key("ann", "gold"), await app.key("bob", "gold"), await app.key("root", "enterprise", "admin")];
    const annSocket = await listen(app.wsUrl("api", ann));
    const bobSocket = await listen(app.wsUrl("ws-port"), { authorization: `Bearer ${bob}` });
    const adminSocket = await listen(app.wsUrl("ws-port", root));
    const a = await upload(app, ann, buildDicom(), { query: "?wait=30", name: "ann-patient.dcm" });
    const b = await upload(app, bob, eicar(), { query: "?wait=30", name: "bob-patient.txt" });
    assert.deepEqual([a.status, b.status], [200, 200]);
    await eventually(async () => annSocket.messages.some((m) => m.type === "scan_result") && bobSocket.messages.some((m) => m.type === "scan_result"), 10_000, "both results");
    await eventually(async () => adminSocket.messages.filter((m) => m.type === "stats").length >= 2, 10_000, "stats for the admin");

    for (const [socket, own, other] of [[annSocket, a.body.fileId, b.body.fileId], [bobSocket, b.body.fileId, a.body.fileId]] as const) {
      const fileEvents = socket.messages.filter((m) => m.type !== "stats");
      assert.ok(fileEvents.length >= 2, "progress and result");
      assert.ok(fileEvents.every((m) => m.fileId === own), "only its own file's events");
      assert.ok(!JSON.stringify(socket.messages).includes(String(other)));
      assert.ok(!socket.messages.some((m) => m.type === "stats"), "stats go to admins only");
      assert.ok(fileEvents.every((m) => m.userId === undefined), "the owner's id stays in the server");
    }
    assert.equal(annSocket.messages.find((m) => m.type === "scan_result")!.fileName, "ann-patient.dcm");
    assert.equal(bobSocket.messages.find((m) => m.type === "scan_result")!.result!.status, "infected");
    assert.ok(!adminSocket.messages.some((m) => m.type !== "stats"), "an admin is not a tenant: no other user's file events");

    for (const [key, foreign] of [[ann, b.body.fileId], [bob, a.body.fileId]] as const) {
      for (const [method, route] of [["GET", ""], ["GET", "/scans"], ["GET", "/content"], ["POST", "/rescan"]] as const) {
        const r = await call(app, key, method, `/api/medical-files/${foreign}${route}`);
        assert.equal(r.status, 404, `${method} ${route}`);
        assert.equal((r.body.error as { code: string }).code, "FILE_NOT_FOUND");
      }
    }
    assert.equal((await call(app, ann, "GET", `/api/medical-files/${a.body.fileId}/content`)).status, 200, "the owner downloads");
    assert.equal((await call(app, ann, "POST", `/api/medical-files/${a.body.fileId}/rescan`)).status, 202, "the owner rescans");
    for (const s of [annSocket, bobSocket, adminSocket]) s.ws.close();
  });

  it("a fileId names a file among its owner's only: another tenant's id (an accession number) is neither refused nor revealed", async () => {
    const [cat, dan] = [await app.key("cat", "premium"), await app.key("dan", "premium")];
    const catSocket = await listen(app.wsUrl("api", cat));
    const danSocket = await listen(app.wsUrl("api", dan));
    const id = "ACC-2026-000123";
    const first = await upload(app, cat, buildDicom(), { fields: { fileId: id }, query: "?wait=30", name: "cat.dcm" });
    const second = await upload(app, dan, eicar(), { fields: { fileId: id }, query: "?wait=30", name: "dan.txt" });
    assert.deepEqual([first.status, second.status, first.body.fileId, second.body.fileId], [200, 200, id, id], JSON.stringify(second.body));
    const mine = async (key: string) => (await call(app, key, "GET", `/api/medical-files/${id}`)).body;
    assert.deepEqual([(await mine(cat)).fileName, (await mine(cat)).status], ["cat.dcm", "clean"]);
    assert.deepEqual([(await mine(dan)).fileName, (await mine(dan)).status], ["dan.txt", "infected"]);
    assert.equal((await call(app, cat, "GET", `/api/medical-files/${id}/content`)).status, 200);
    assert.equal((await call(app, dan, "GET", `/api/medical-files/${id}/content`)).status, 409);
    const again = await upload(app, cat, buildDicom(), { fields: { fileId: id }, name: "cat2.dcm" });
    assert.deepEqual([again.status, (again.body.error as { code: string }).code], [409, "DUPLICATE_FILE"], "the owner's own id is still a duplicate");
    await eventually(async () => [catSocket, danSocket].every((s) => s.messages.some((m) => m.type === "scan_result")), 10_000, "both results");
    assert.equal(catSocket.messages.find((m) => m.type === "scan_result")!.result!.status, "clean");
    assert.equal(danSocket.messages.find((m) => m.type === "scan_result")!.result!.status, "infected");
    for (const s of [catSocket, danSocket]) {
      assert.ok(s.messages.filter((m) => m.type !== "stats").every((m) => m.fileId === id), "events carry the id the owner gave");
      s.ws.close();
    }
  });

  it("GET /api/medical-files lists the caller's own files, newest first with their verdicts, a page at a time without skips or repeats", async () => {
    const [eve, fay] = [await app.key("eve", "premium"), await app.key("fay", "premium")];
    const ids = ["eve-1", "eve-2", "eve-3", "eve-4", "eve-5"];
    for (const id of ids) assert.equal((await upload(app, eve, id === "eve-3" ? eicar() : buildDicom(), { fields: { fileId: id }, query: "?wait=30", name: `${id}.dcm` })).status, 200);
    await upload(app, fay, buildDicom(), { fields: { fileId: "fay-1" }, query: "?wait=30", name: "fay.dcm" });
    const seen: { fileId: string; status: string; fileName: string }[] = [];
    let after: string | null = null;
    do {
      const page: { status: number; body: { files: { fileId: string; status: string; fileName: string }[]; next: string | null } } = (await call(app, eve, "GET", `/api/medical-files?limit=2${after ? `&after=${after}` : ""}`)) as never;
      assert.equal(page.status, 200);
      assert.ok(page.body.files.length <= 2);
      seen.push(...page.body.files);
      after = page.body.next;
    } while (after);
    assert.deepEqual(seen.map((f) => f.fileId), [...ids].reverse(), "newest first, each once, only eve's");
    assert.equal(seen.find((f) => f.fileId === "eve-3")!.status, "infected");
    assert.ok(seen.filter((f) => f.fileId !== "eve-3").every((f) => f.status === "clean"));
    assert.deepEqual(((await call(app, fay, "GET", "/api/medical-files")).body.files as { fileId: string }[]).map((f) => f.fileId), ["fay-1"]);
    for (const bad of ["?limit=0", "?limit=101", "?limit=x", "?after=not-a-cursor"]) {
      const r = await call(app, eve, "GET", `/api/medical-files${bad}`);
      assert.deepEqual([r.status, (r.body.error as { code: string }).code], [400, "INVALID_REQUEST"], bad);
    }
  });

  it("a browser's WebSocket: the key as the subprotocol bearer.KEY beside scan-daemon.v1, which the server answers (never the key)", async () => {
    const key = await app.key("gus", "premium");
    const url = app.wsUrl("api", key).replace(/\?token=.*$/, "");
    const ws = new WebSocket(url, ["scan-daemon.v1", `bearer.${key}`]);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    assert.equal(ws.protocol, "scan-daemon.v1");
    ws.close();
    const wrong = new WebSocket(url, ["scan-daemon.v1", "bearer.msd_wrong"]);
    const status = await new Promise<number>((resolve) => {
      wrong.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      wrong.once("error", () => undefined);
    });
    assert.equal(status, 401);
  });

  it("a WebSocket without a valid key is refused with 401; another path with 404", async () => {
    assert.equal(await refusedWith(app.wsUrl("api")), 401);
    assert.equal(await refusedWith(app.wsUrl("ws-port", `msd_${"B".repeat(43)}`)), 401);
    assert.equal(await refusedWith(app.wsUrl("api").replace("/ws", "/socket")), 404);
  });

  it("a client that stops reading is dropped once its backlog passes the limit; a reading client gets everything", async () => {
    const key = await app.key("reader", "gold");
    const reader = await listen(app.wsUrl("api", key));
    const slow = await deafClient(app.service.api.port, key);
    await eventually(async () => app.service.api.hub.size === 2, 5000, "both clients");
    const publisher = createClient({ url: stack.redis.url });
    await publisher.connect();
    const big = { status: "clean", padding: "x".repeat(64 * 1024) };
    for (let i = 0; i < 300; i++) {
      await publisher.publish(`msd:${env.SCAN_QUEUE_NAME}:events`, JSON.stringify({ type: "scan_result", jobId: `j${i}`, fileId: "f", userId: "reader", fileName: "n", result: big }));
    }
    await publisher.close();
    await eventually(async () => reader.messages.length === 300, 30_000, "the reading client to get all 300 events");
    assert.equal(app.service.api.hub.size, 1, "the client that stopped reading was dropped");
    reader.ws.close();
    slow.destroy();
  });

  it("a client that does not answer pings is dropped after a heartbeat", async () => {
    const quick = await startApiApp(stack, { ...(await stack.scenario("heartbeat")), WS_HEARTBEAT_MS: "200" });
    try {
      const deaf = await deafClient(quick.service.api.wsPort, await quick.key("deaf", "free"));
      await eventually(async () => quick.service.api.hub.size === 1, 5000, "the client");
      await eventually(async () => quick.service.api.hub.size === 0, 5000, "the silent client to be dropped");
      deaf.destroy();
    } finally {
      await quick.close();
    }
  });

  it("keys from the CLI: the key is the last line, listed by id, revoked for good; audit verify passes, then fails on an edited or missing line", async () => {
    const cli = (...args: string[]) => run(process.execPath, ["--import", "tsx", path.join(ROOT, "app/scan-daemon.ts"), ...args], { env: { ...process.env, ...env } });
    const created = await cli("keys", "create", "--user", "carol", "--tier", "premium");
    const lines = created.stdout.trim().split("\n");
    const key = lines.at(-1)!;
    assert.match(key, /^msd_[A-Za-z0-9_-]{43}$/);
    const keyId = /created (key_[0-9a-f]+)/.exec(created.stdout)![1]!;
    assert.equal((await call(app, key, "GET", "/api/medical-files/scan-queue")).status, 200);
    const listed = await cli("keys", "list");
    assert.match(listed.stdout, new RegExp(`${keyId} user=carol tier=premium role=user`));
    assert.ok(!listed.stdout.includes(key), "a key is never shown again");
    await cli("keys", "revoke", keyId);
    assert.equal((await call(app, key, "GET", "/api/medical-files/scan-queue")).status, 401);

    const verified = await cli("audit", "verify");
    assert.match(verified.stdout, /audit trail intact: \d+ entries/);
    const logPath = path.join(env.LOG_DIR!, AUDIT_LOG_NAME);
    const original = await readFile(logPath, "utf8");
    const entries = original.trim().split("\n").map((l) => JSON.parse(l) as { action: string; detail: Record<string, unknown> });
    for (const action of ["upload", "verdict", "quarantine", "download", "rescan", "key_create", "key_revoke", "auth_failed"]) assert.ok(entries.some((e) => e.action === action), action);
    for (const name of ["ann-patient", "bob-patient"]) assert.ok(!original.includes(name), "no file name in the audit log");

    const lines2 = original.split("\n");
    const middle = Math.floor(lines2.length / 2);
    await writeFile(logPath, lines2.map((l, i) => (i === middle ? l.replace(/"actor":"[^"]*"/, '"actor":"mallory"') : l)).join("\n"));
    const edited = await cli("audit", "verify").then(
      () => assert.fail("verify passed on an edited line"),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(edited.code, 1);
    assert.match(edited.stderr, new RegExp(`line ${middle + 1}: entry \\d+ differs from the audit table`));
    // On one appliance the log is the whole chain, so the next line's prev breaks too; in a
    // deployment (PostgreSQL) each line chains from the table's entry before it.
    if (TEST_DATABASE === "sqlite") assert.match(edited.stderr, new RegExp(`line ${middle + 2}: the previous line was changed or removed`));

    await writeFile(logPath, lines2.filter((_, i) => i !== middle).join("\n"));
    const missing = await cli("audit", "verify").then(
      () => assert.fail("verify passed with a line missing"),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, TEST_DATABASE === "sqlite" ? /lines are missing/ : /lacks 1 entries host \S+ wrote/);
    await writeFile(logPath, original);
    assert.match((await cli("audit", "verify")).stdout, /intact/);
  });
});
