import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { execFile } from "node:child_process";
import { once } from "node:events";
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import Bull from "bull";
import { createClient } from "redis";
import { VirusTotalClient } from "../../app/engines/virustotal/virustotal-client.ts";
import { loadConfig } from "../../app/config.ts";
import { auditLine, GENESIS_HASH, lineHash, type AuditDetail } from "../../app/store/audit-line.ts";
import { AUDIT_LOG_NAME } from "../../app/store/audit-log-file.ts";
import { ROOT } from "../harness/clamd.ts";
import { call, startApiApp } from "../harness/api-app.ts";
import { GatedProxy } from "../harness/gated-proxy.ts";
import { eventually, openDatabase, startServiceStack, type ServiceStack } from "../harness/service-stack.ts";

describe("hardening: what a queue writer or a hostile client cannot do (real Redis, clamd)", { timeout: 300_000 }, () => {
  let stack: ServiceStack;
  before(async () => {
    stack = await startServiceStack();
  });
  after(() => stack.close());

  it("the worker takes tier and scan type from SQLite: tampered Redis data gets an error verdict, a job SQLite never saw is not scanned", async () => {
    const env = await stack.scenario("tamper");
    const intake = await stack.daemon({ worker: false, env });
    const { fileId, jobId } = await intake.submitFile({ filePath: await stack.file("note.txt", Buffer.from("a gold tenant's note\n")), fileName: "note.txt", userTier: "gold", userId: "ann" });
    const redis = createClient({ url: stack.redis.url });
    await redis.connect();
    const queue = new Bull(env.SCAN_QUEUE_NAME!, stack.redis.url);
    try {
      const key = `bull:${env.SCAN_QUEUE_NAME}:${jobId}`;
      const data = JSON.parse((await redis.hGet(key, "data"))!) as Record<string, unknown>;
      assert.equal(data.tier, "gold");
      await redis.hSet(key, "data", JSON.stringify({ ...data, tier: "free" }));
      const forged = await queue.add({ ...data, tier: "free", scanType: "upload" }, { jobId: "forged-job" });

      await stack.daemon({ env });
      const scan = await intake.waitForResult(jobId, 60_000);
      assert.equal(scan?.status, "error");
      assert.equal(scan?.results.engines.validation?.error?.code, "JOB_DATA_MISMATCH", JSON.stringify(scan?.results.engines));
      await eventually(async () => (await forged.getState()) === "completed", 30_000, "the forged job to be refused");
      assert.equal((await queue.getJob("forged-job"))?.returnvalue, "refused");
      assert.deepEqual((await intake.getScans(fileId)).map((s) => s.jobId), [jobId], "no verdict for the forged job");
    } finally {
      await queue.close();
      await redis.quit();
    }
  });

  it("the VirusTotal client follows no redirect (the key would go with it) and takes only https, save to this machine", async () => {
    const seen: http.IncomingHttpHeaders[] = [];
    const elsewhere = http.createServer((req, res) => {
      seen.push(req.headers);
      res.end("{}");
    });
    await new Promise<void>((r) => elsewhere.listen(0, "127.0.0.1", r));
    const target = `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}`;
    const redirecting = http.createServer((req, res) => {
      res.writeHead(307, { location: `${target}${req.url}` });
      res.end();
    });
    await new Promise<void>((r) => redirecting.listen(0, "127.0.0.1", r));
    try {
      const client = new VirusTotalClient({ baseUrl: `http://127.0.0.1:${(redirecting.address() as AddressInfo).port}/api/v3`, apiKey: "secret-key", timeoutMs: 5000, uploadTimeoutMs: 5000 });
      await assert.rejects(client.fileReport("0".repeat(64)), { code: "Unreachable" });
      assert.equal(seen.length, 0, "nothing reached the redirect's target");
    } finally {
      elsewhere.close();
      redirecting.close();
    }
    assert.throws(() => loadConfig({ VIRUSTOTAL_API_KEY: "k", VIRUSTOTAL_API_URL: "http://vt.example.org/api/v3" }), /VIRUSTOTAL_API_URL.*https/);
    assert.doesNotThrow(() => loadConfig({ VIRUSTOTAL_API_KEY: "k", VIRUSTOTAL_API_URL: "http://127.0.0.1:9/api/v3" }));
  });

  it("a result made with only the development signature set says so in engines.clamav", async () => {
    const env = { ...(await stack.scenario("devsigs")), CLAMAV_DB_DIR: stack.clamd.dbDir };
    const daemon = await stack.daemon({ env });
    // The daemon's engine threads start (and compile the rules) beside the first scan: on a busy machine that scan may time out (an error verdict, as it must); the next one is the one to look at.
    let seen = "";
    const scan = await eventually(async () => {
      const { jobId } = await daemon.submitFile({ filePath: await stack.file("note.txt", Buffer.from(`scanned with test signatures ${randomUUID()}\n`)), fileName: "note.txt", userTier: "free", userId: "dev" });
      const result = await daemon.waitForResult(jobId, 60_000);
      seen += `${result?.status}: ${JSON.stringify(result?.results.engines)}\n`;
      return result?.status !== "error" && result;
    }, 90_000, "a verdict that is not an error").catch((err: Error) => assert.fail(`${err.message}\n${seen}`));
    assert.equal(scan.status, "clean", seen);
    assert.equal(scan.results.engines.clamav?.signatures, "development", JSON.stringify(scan.results.engines.clamav));
  });

  it("3,000 requests with no key or a wrong one write a few counted summaries, not 3,000 audit rows; readiness is cached", async () => {
    const gate = await GatedProxy.start(stack.clamd.port);
    const env = { ...(await stack.scenario("authflood")), AUTH_FAILURE_AUDIT_INTERVAL_MS: "1000", CLAMAV_PORT: String(gate.port) };
    const app = await startApiApp(stack, env);
    try {
      const before = (await readAudit(env)).length;
      const started = Date.now();
      const wrong = `msd_${"x".repeat(43)}`;
      for (let i = 0; i < 60; i++) {
        await Promise.all(Array.from({ length: 50 }, (_, j) => call(app, (i + j) % 2 ? wrong : null, "GET", "/api/medical-files/scan-queue").then((r) => assert.equal(r.status, 401))));
      }
      await eventually(async () => (await readAudit(env)).filter((e) => e.action === "auth_failed").reduce((n, e) => n + Number(e.detail.count), 0) === 3000, 10_000, "the summaries to be flushed");
      const added = (await readAudit(env)).slice(before);
      // One row per IP and reason per flush: two reasons, one flush a second.
      const flushes = Math.ceil((Date.now() - started) / 1000) + 1;
      assert.ok(added.length <= 2 * flushes, `${added.length} audit rows for 3,000 failed requests over ${flushes} flushes`);
      const reasons = new Set(added.map((e) => e.detail.reason));
      assert.deepEqual(reasons, new Set(["MISSING_API_KEY", "INVALID_API_KEY"]));

      const asked = gate.commands.length;
      for (let i = 0; i < 5; i++) await Promise.all(Array.from({ length: 10 }, () => call(app, null, "GET", "/health/ready")));
      await Promise.all(Array.from({ length: 10 }, () => call(app, null, "GET", "/metrics")));
      assert.ok(gate.commands.length - asked <= 6, `${gate.commands.length - asked} clamd commands for 50 readiness probes and 10 scrapes: ${gate.commands.slice(asked).join(", ")}`);
    } finally {
      await app.close();
      gate.close();
    }
  });

  it("slow clients: a request body still arriving after API_REQUEST_TIMEOUT_MS (the upload route excepted), headers after API_HEADERS_TIMEOUT_MS, connections over API_MAX_CONNECTIONS are cut", async () => {
    const env = { ...(await stack.scenario("slow")), API_REQUEST_TIMEOUT_MS: "1500", API_HEADERS_TIMEOUT_MS: "1500", API_MAX_CONNECTIONS: "4" };
    const app = await startApiApp(stack, env);
    const { hostname, port } = new URL(app.base);
    const open = async () => {
      const socket = net.connect(Number(port), hostname);
      await once(socket, "connect");
      const closed = new Promise<number>((resolve) => socket.once("close", () => resolve(Date.now())));
      socket.on("error", () => undefined);
      // Read whatever comes, so that the server's close is seen.
      socket.resume();
      return { socket, closed };
    };
    try {
      const body = await open();
      body.socket.write("POST /api/medical-files/x/rescan HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc");
      const headers = await open();
      headers.socket.write("GET /health HTTP/1.1\r\nHost: x\r\n");
      const upload = await open();
      upload.socket.write("POST /api/medical-files/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n--b");
      const started = Date.now();
      const [bodyCut, headersCut] = await Promise.all([body.closed, headers.closed]);
      assert.ok(bodyCut - started < 6000 && headersCut - started < 6000, `cut after ${bodyCut - started} and ${headersCut - started} ms`);
      assert.equal(upload.socket.destroyed, false, "the upload route keeps its long deadline");

      const held = [upload, ...(await Promise.all([open(), open(), open()]))];
      const extra = await open();
      const refusedAt = await Promise.race([extra.closed, new Promise<number>((r) => setTimeout(() => r(0), 3000))]);
      assert.ok(refusedAt > 0, "a fifth connection is closed at once");
      for (const c of held) c.socket.destroy();
      assert.equal((await call(app, null, "GET", "/health")).status, 200);
    } finally {
      await app.close();
    }
  });

  it("AUDIT_HMAC_KEY: a chain rewritten with plain SHA-256 by whoever can write both volumes fails; --expect catches a trail cut short", async () => {
    const key = "k".repeat(40);
    const env: Record<string, string> & { DATA_DIR: string; LOG_DIR: string } = { ...(await stack.scenario("hmac")), DATA_DIR: path.join(stack.dir, "hmac", "data"), LOG_DIR: path.join(stack.dir, "hmac", "logs"), AUDIT_HMAC_KEY: key };
    const daemon = await stack.daemon({ env });
    for (let i = 0; i < 3; i++) {
      const { jobId } = await daemon.submitFile({ filePath: await stack.file("n.txt", Buffer.from(`note ${i}\n`)), fileName: "n.txt", userTier: "free", userId: "audit" });
      await daemon.waitForResult(jobId, 30_000);
    }
    await daemon.close();
    const cli = (extra: Record<string, string>, ...args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
        execFile(process.execPath, ["--import", "tsx", path.join(ROOT, "app/scan-daemon.ts"), "audit", "verify", ...args], { env: { ...process.env, ...stack.env, ...env, ...extra } }, (err, stdout, stderr) =>
          resolve({ code: err ? Number((err as { code?: number }).code) : 0, stdout, stderr }),
        ),
      );
    const intact = await cli({});
    assert.equal(intact.code, 0, intact.stderr);
    const [, entries, head] = /intact: (\d+) entries, HMAC-chained from entry 1, head (\d+:[0-9a-f]{64})/.exec(intact.stdout) ?? [];
    assert.ok(head, intact.stdout);
    assert.match((await cli({ AUDIT_HMAC_KEY: "" })).stderr, /HMAC-chained: set AUDIT_HMAC_KEY/);

    const db = await openDatabase({ ...stack.env, ...env });
    const logPath = path.join(env.LOG_DIR, AUDIT_LOG_NAME);
    try {
      // Cut short, database and log alike: still a valid chain, but not the one written down.
      await db.run("DELETE FROM audit WHERE seq = ?", [Number(entries)]);
      const kept = (await readFile(logPath, "utf8")).trim().split("\n").slice(0, -1);
      await writeFile(logPath, kept.map((l) => `${l}\n`).join(""));
      assert.equal((await cli({})).code, 0, "a shorter chain is still a chain");
      const cut = await cli({}, "--expect", head!);
      assert.equal(cut.code, 1);
      assert.match(cut.stderr, /kept off the machine .* no longer in the chain/);

      // Every entry rewritten as a plain SHA-256 chain, database and log alike, one actor changed.
      const rows = await db.all<{ seq: number; at: string; host: string | null; actor: string; action: string; file_id: string | null; sha256: string | null; detail: string }>("SELECT * FROM audit ORDER BY seq");
      let prev = GENESIS_HASH;
      const lines: string[] = [];
      for (const r of rows) {
        const actor = r.seq === 2 ? "mallory" : r.actor;
        const line = auditLine({ seq: r.seq, at: r.at, host: r.host, actor, action: r.action, fileId: r.file_id, sha256: r.sha256, detail: JSON.parse(r.detail) as AuditDetail, prev });
        const hash = lineHash(line);
        await db.run("UPDATE audit SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?", [actor, prev, hash, r.seq]);
        lines.push(line);
        prev = hash;
      }
      await writeFile(logPath, lines.map((l) => `${l}\n`).join(""));
      assert.match((await cli({ AUDIT_HMAC_KEY: "" })).stdout, /intact/, "without the key a recomputed chain looks whole: that is what the key is for");
      const forged = await cli({});
      assert.equal(forged.code, 1, "with the key it does not");
      assert.match(forged.stderr, /changed after it was written|not HMAC-chained/);
    } finally {
      await db.close();
    }
  });
});


async function readAudit(env: Record<string, string>): Promise<{ action: string; detail: Record<string, unknown> }[]> {
  const text = await readFile(path.join(env.LOG_DIR!, AUDIT_LOG_NAME), "utf8").catch(() => "");
  return text.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as { action: string; detail: Record<string, unknown> });
}
