import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdir } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { Validator } from "@seriousme/openapi-schema-validator";
import { createApi } from "../../app/api/create-api.ts";
import { fileRoutes } from "../../app/api/file-routes.ts";
import { OPENAPI_DOCUMENT } from "../../app/api/openapi.ts";
import { RESERVED_FILE_IDS } from "../../app/intake/submissions.ts";
import { createLogger } from "../../app/log.ts";
import { buildDicom } from "../fixtures/dicom.ts";
import { eicar } from "../fixtures/eicar.ts";
import { freePort } from "../harness/ports.ts";
import { call, rawUpload, startApiApp, upload, type ApiApp } from "../harness/api-app.ts";
import { eventually, startServiceStack, TEST_DATABASE, TEST_DATABASE_NAME, type ServiceStack } from "../harness/service-stack.ts";

const MiB = 1024 * 1024;
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe(`HTTP API contract (real app, Redis, clamd, ${TEST_DATABASE_NAME})`, () => {
  let stack: ServiceStack;
  let app: ApiApp;
  let alice: string;
  let freeUser: string;
  let admin: string;
  const seen = new Set<number>();
  const saw = <T extends { status: number }>(r: T): T => (seen.add(r.status), r);
  const incomingLeft = async () => (await readdir(app.service.daemon.incomingDir)).length;

  before(async () => {
    stack = await startServiceStack();
    app = await startApiApp(stack);
    alice = await app.key("alice", "premium");
    freeUser = await app.key("frank", "free");
    admin = await app.key("root", "enterprise", "admin");
  });
  after(async () => {
    await app.close();
    await stack.close();
  });

  it("EICAR with ?wait=30 answers 200 infected; its content is 409; a clean file's content is its bytes", async () => {
    const bad = saw(await upload(app, alice, eicar(), { query: "?wait=30", name: "note.txt" }));
    assert.equal(bad.status, 200);
    assert.equal((bad.body.result as { status: string }).status, "infected");
    const content = saw(await call(app, alice, "GET", `/api/medical-files/${bad.body.fileId}/content`));
    assert.equal(content.status, 409);
    assert.equal((content.body.error as { code: string }).code, "NOT_CLEAN");

    const dicom = buildDicom();
    const good = await upload(app, alice, dicom, { query: "?wait=30", name: "study.dcm", fields: { fileId: "study-1", fileHash: sha256(dicom) } });
    assert.equal(good.status, 200);
    assert.equal(good.body.fileId, "study-1");
    const res = await fetch(`${app.base}/api/medical-files/study-1/content`, { headers: { authorization: `Bearer ${alice}` } });
    seen.add(res.status);
    assert.equal(res.status, 200);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), dicom);
    assert.equal(res.headers.get("x-content-sha256"), sha256(dicom));

    const meta = await call(app, alice, "GET", "/api/medical-files/study-1");
    assert.equal(meta.body.status, "clean");
    const scans = await call(app, alice, "GET", "/api/medical-files/study-1/scans");
    const [scan] = scans.body.scans as { status: string; threat_level: string; scan_engines: string[]; created_at: string; results: object }[];
    assert.deepEqual([scan!.status, scan!.threat_level, scan!.scan_engines], ["clean", "clean", ["validation", "clamav", "yara"]]);

    const dup = saw(await upload(app, alice, dicom, { fields: { fileId: "study-1" } }));
    assert.deepEqual([dup.status, (dup.body.error as { code: string }).code], [409, "DUPLICATE_FILE"]);
  });

  it("a fileId that names a route (scan-queue, upload, in any case) is 400 and stored nowhere; every fixed route segment is reserved", async () => {
    const router = fileRoutes(app.service.daemon, async (_ctx, next) => next());
    const fixed = router.stack.map((layer) => String(layer.path).replace("/api/medical-files/", "")).filter((p) => p && !p.includes(":") && !p.includes("/"));
    assert.deepEqual([...new Set(fixed)].sort(), [...RESERVED_FILE_IDS].sort());
    for (const id of ["scan-queue", "upload", "Scan-Queue", "UPLOAD"]) {
      const r = saw(await upload(app, alice, buildDicom(), { fields: { fileId: id } }));
      assert.deepEqual([r.status, (r.body.error as { code: string }).code], [400, "INVALID_REQUEST"], id);
      assert.match((r.body.error as { message: string }).message, /reserved/);
    }
    assert.equal(await incomingLeft(), 0);
    assert.equal((await call(app, alice, "GET", "/api/medical-files/scan-queue")).body.waiting !== undefined, true, "the route still answers");
    assert.equal((await upload(app, alice, buildDicom(), { fields: { fileId: "scan-queue-2" } })).status, 202, "only the exact segment is reserved");
  });

  it("202 without wait; rescan is 202 for premium and 403 for free", async () => {
    const queued = saw(await upload(app, alice, buildDicom(), { name: "a.dcm" }));
    assert.equal(queued.status, 202);
    assert.equal(queued.body.status, "queued");
    assert.ok(Number(queued.body.estimatedTime) >= 1);
    const rescan = saw(await call(app, alice, "POST", `/api/medical-files/${queued.body.fileId}/rescan`));
    assert.equal(rescan.status, 202);
    assert.equal(typeof rescan.body.scanJobId, "string");
    assert.ok(await app.service.daemon.waitForResult(String(rescan.body.scanJobId), 30_000));

    const own = await upload(app, freeUser, buildDicom(), { name: "f.dcm" });
    const refused = saw(await call(app, freeUser, "POST", `/api/medical-files/${own.body.fileId}/rescan`));
    assert.deepEqual([refused.status, (refused.body.error as { code: string }).code], [403, "RESCAN_NOT_ALLOWED"]);
  });

  it("400 for malformed requests, 415 for a body that is not multipart, 422 for a wrong fileHash", async () => {
    for (const query of ["?wait=121", "?wait=abc", "?wait=-1"]) assert.equal(saw(await upload(app, alice, buildDicom(), { query })).status, 400, query);
    assert.equal(saw(await upload(app, alice, buildDicom(), { fields: { fileHash: "not-a-hash" } })).status, 400);
    assert.equal(saw(await upload(app, alice, buildDicom(), { fields: { fileId: "../../etc/passwd" } })).status, 400);
    const noFile = new FormData();
    noFile.append("fileId", "x1");
    const missing = await fetch(`${app.base}/api/medical-files/upload`, { method: "POST", body: noFile, headers: { authorization: `Bearer ${alice}` } });
    assert.equal(missing.status, 400);
    const json = await fetch(`${app.base}/api/medical-files/upload`, { method: "POST", body: "{}", headers: { authorization: `Bearer ${alice}`, "content-type": "application/json" } });
    seen.add(json.status);
    assert.equal(json.status, 415);
    const wrongHash = saw(await upload(app, alice, buildDicom(), { fields: { fileHash: "0".repeat(64) } }));
    assert.deepEqual([wrongHash.status, (wrongHash.body.error as { code: string }).code], [422, "INTEGRITY_MISMATCH"]);
    assert.equal(await incomingLeft(), 0);
  });

  it("401 without a key, with an unknown key and with a revoked key; 403 for a user on admin routes", async () => {
    const none = saw(await call(app, null, "GET", "/api/medical-files/scan-queue"));
    assert.deepEqual([none.status, (none.body.error as { code: string }).code], [401, "MISSING_API_KEY"]);
    assert.match(none.headers.get("www-authenticate") ?? "", /^Bearer/);
    assert.equal(saw(await call(app, `msd_${"A".repeat(43)}`, "GET", "/api/medical-files/scan-queue")).status, 401);
    assert.equal(saw(await upload(app, null, buildDicom())).status, 401);
    const temp = await app.service.daemon.keys.create({ userId: "temp", tier: "free", role: "user" }, "test");
    assert.equal((await call(app, temp.key, "GET", "/api/medical-files/scan-queue")).status, 200);
    await app.service.daemon.keys.revoke(temp.record.id, "test");
    assert.equal(saw(await call(app, temp.key, "GET", "/api/medical-files/scan-queue")).status, 401);
    for (const [method, path] of [["GET", "/api/admin/quarantine"], ["POST", "/api/admin/quarantine/x/release"], ["DELETE", "/api/admin/quarantine/x"], ["GET", "/admin/queues"]] as const) {
      assert.equal(saw(await call(app, alice, method, path)).status, 403, path);
      assert.equal((await call(app, null, method, path)).status, 401, path);
    }
    const board = await fetch(`${app.base}/admin/queues`, { headers: { authorization: `Bearer ${admin}` } });
    assert.equal(board.status, 200);
    assert.match(await board.text(), /<html/i);

    // Read-only, and no tenant's file ids: a job shows its tier and scan type only.
    const mine = await upload(app, alice, buildDicom(), { query: "?wait=30" });
    const boardApi = (path: string, method = "GET") => fetch(`${app.base}/admin/queues/api${path}`, { method, headers: { authorization: `Bearer ${admin}` } });
    const queues = (await (await boardApi("/queues")).json()) as { queues: { name: string; readOnlyMode: boolean }[] };
    const name = queues.queues[0]!.name;
    assert.equal(queues.queues[0]!.readOnlyMode, true);
    const listed = await (await boardApi(`/queues?activeQueue=${encodeURIComponent(name)}&status=completed&page=1&jobsPerPage=50`)).text();
    assert.match(listed, /"scanType":"upload"/);
    assert.ok(!listed.includes(String(mine.body.fileId)) && !listed.includes('"userId"'), "no file id or owner in the board");
    assert.equal((await boardApi(`/queues/${encodeURIComponent(name)}/retry/failed`, "PUT")).status, 405, "no retry that bypasses the audit trail");
  });

  it("404 for unknown files and routes; admins release and delete quarantined files", async () => {
    assert.equal(saw(await call(app, alice, "GET", "/api/medical-files/no-such-file")).status, 404);
    assert.equal(saw(await call(app, alice, "GET", "/api/nothing-here")).status, 404);
    const bad = await upload(app, alice, eicar(), { query: "?wait=30" });
    const list = saw(await call(app, admin, "GET", "/api/admin/quarantine"));
    const entry = (list.body.entries as { id: string; fileId: string; path?: string }[]).find((e) => e.fileId === bad.body.fileId);
    assert.ok(entry, "the infected upload is held");
    assert.equal(entry.path, undefined, "vault paths stay private");
    assert.equal(saw(await call(app, admin, "POST", `/api/admin/quarantine/${entry.id}/release`)).status, 200);
    assert.equal(saw(await call(app, admin, "POST", `/api/admin/quarantine/${entry.id}/release`)).status, 404);
    const other = await upload(app, alice, eicar(), { query: "?wait=30" });
    const held = ((await call(app, admin, "GET", "/api/admin/quarantine")).body.entries as { id: string; fileId: string }[]).find((e) => e.fileId === other.body.fileId)!;
    assert.equal(saw(await call(app, admin, "DELETE", `/api/admin/quarantine/${held.id}`)).status, 200);
  });

  it("410 once a clean file's bytes are removed by retention", async () => {
    const r = await upload(app, alice, buildDicom(), { query: "?wait=30" });
    assert.equal((r.body.result as { status: string }).status, "clean");
    await app.service.daemon.applyRetention(new Date(Date.now() + 40 * 86_400_000));
    const gone = saw(await call(app, alice, "GET", `/api/medical-files/${r.body.fileId}/content`));
    assert.deepEqual([gone.status, (gone.body.error as { code: string }).code], [410, "FILE_EXPIRED"]);
  });

  it("a large upload, declared or chunked, is recorded with the SHA-256 of its bytes (computed in the hash thread); a wrong fileHash is 422 with no file left", async () => {
    const big = Buffer.alloc(3 * MiB + 17);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i, i);
    const declared = saw(await upload(app, alice, big, { fields: { fileId: "big-declared", fileHash: sha256(big) } }));
    assert.equal(declared.status, 202);
    const chunked = await rawUpload(app, { key: alice, data: big, fields: { fileId: "big-chunked", fileHash: sha256(big) } });
    assert.equal(chunked !== "aborted" && chunked.status, 202);
    for (const id of ["big-declared", "big-chunked"]) {
      const file = await call(app, alice, "GET", `/api/medical-files/${id}`);
      assert.deepEqual([file.body.size, file.body.sha256], [big.length, sha256(big)], id);
    }
    const wrong = await rawUpload(app, { key: alice, data: big, fields: { fileHash: "0".repeat(64) } });
    assert.deepEqual(wrong !== "aborted" && [wrong.status, (JSON.parse(wrong.body) as { error: { code: string } }).error.code], [422, "INTEGRITY_MISMATCH"]);
    const wrongDeclared = saw(await upload(app, alice, big, { fields: { fileHash: "1".repeat(64) } }));
    assert.deepEqual([wrongDeclared.status, (wrongDeclared.body.error as { code: string }).code], [422, "INTEGRITY_MISMATCH"]);
    assert.equal(await incomingLeft(), 0);
  });

  it("one byte over the tier limit is 413 while streaming, with no temporary file left; at the limit is accepted", async () => {
    const limit = 10 * MiB;
    const over = saw(await upload(app, freeUser, Buffer.alloc(limit + 1, 1)));
    assert.deepEqual([over.status, (over.body.error as { code: string }).code], [413, "FILE_TOO_LARGE"]);
    assert.equal(await incomingLeft(), 0);
    const chunked = await rawUpload(app, { key: freeUser, size: limit + 1 });
    assert.notEqual(chunked, "aborted");
    assert.equal(chunked !== "aborted" && chunked.status, 413);
    assert.equal(await incomingLeft(), 0);
    const declared = await rawUpload(app, { key: freeUser, size: 50 * MiB, contentLength: 50 * MiB + 200 });
    assert.equal(declared !== "aborted" && declared.status, 413, "refused on its declared length");
    const atLimit = await upload(app, freeUser, Buffer.alloc(limit, 1));
    assert.equal(atLimit.status, 202);
    assert.equal(await incomingLeft(), 0);
  });

  it("bodies refused for too many parts leave no file, also from a part the parser begins after refusing", async () => {
    const key = await app.key("parts-user", "gold");
    for (let i = 0; i < 20; i++) {
      const two = new FormData();
      two.append("file", new Blob([buildDicom()]), "a.dcm");
      two.append("file", new Blob([buildDicom()]), "b.dcm");
      const res = await fetch(`${app.base}/api/medical-files/upload`, { method: "POST", body: two, headers: { authorization: `Bearer ${key}` } });
      saw({ status: res.status, body: (await res.json()) as Record<string, unknown> });
      const fields = Object.fromEntries(Array.from({ length: 20 }, (_, j) => [`f${j}`, "x"]));
      assert.equal(saw(await upload(app, key, buildDicom(), { fields })).status, 400);
    }
    // The parser opens a part's file a moment after it has refused the request: give it that moment.
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(await incomingLeft(), 0);
  });

  it("a client that disconnects mid-upload leaves no file, no job and no count", async () => {
    const before = await app.service.daemon.dailyUse("frank", "free");
    const outcome = await rawUpload(app, {
      key: freeUser,
      fields: { fileId: "abandoned-1" },
      size: 4 * MiB,
      contentLength: 4 * MiB + 400,
      abortAfter: 2 * MiB,
      beforeAbort: async () => {
        await eventually(async () => (await incomingLeft()) > 0, 10_000, "the upload to reach the disk");
      },
    });
    assert.equal(outcome, "aborted");
    await eventually(async () => (await incomingLeft()) === 0, 10_000, "the partial upload to be removed");
    assert.equal((await call(app, freeUser, "GET", "/api/medical-files/abandoned-1")).status, 404);
    assert.equal((await app.service.daemon.dailyUse("frank", "free")).count, before.count);
  });

  it("the 51st free upload of a UTC day is 429 with Retry-After", async () => {
    const key = await app.key("daily-user", "free");
    for (let i = 0; i < 50; i++) assert.equal((await upload(app, key, buildDicom())).status, 202, `upload ${i + 1}`);
    const refused = saw(await upload(app, key, buildDicom()));
    assert.deepEqual([refused.status, (refused.body.error as { code: string }).code], [429, "DAILY_LIMIT"]);
    const retryAfter = Number(refused.headers.get("retry-after"));
    assert.ok(retryAfter > 0 && retryAfter <= 86_400, `Retry-After ${retryAfter}`);
  });

  it("health, readiness (503 naming clamd when it is down) and metrics", async () => {
    assert.deepEqual((await call(app, null, "GET", "/health")).body.status, "ok");
    const ready = saw(await call(app, null, "GET", "/health/ready"));
    assert.equal(ready.status, 200);
    const checks = ready.body.checks as Record<string, { ok: boolean; state: string }>;
    assert.deepEqual(Object.keys(checks).sort(), ["clamd", "disk", "queue", "redis", TEST_DATABASE, "yara"].sort());
    assert.equal(checks[TEST_DATABASE]!.state, "writable");
    assert.equal(checks.clamd!.state, "up");
    const metrics = (await call(app, null, "GET", "/metrics")).body.text as string;
    assert.match(metrics, /medical_scan_total\{status="infected",tier="premium",engine="overall"\} [1-9]/);
    assert.match(metrics, /medical_scan_total\{status="infected",tier="premium",engine="clamav"\} [1-9]/);
    assert.match(metrics, /medical_scan_duration_seconds_count\{tier="free",engine="clamav"\} [1-9]/);
    assert.match(metrics, /medical_scan_queue_depth\{state="waiting"\} \d+/);
    assert.match(metrics, /medical_clamd_up 1/);
    assert.match(metrics, /medical_clamd_path_refusals_total 0/);
    assert.match(metrics, /medical_clamav_definitions_age_seconds \d+/);

    const blind = await startApiApp(stack, { ...(await stack.scenario("blind")), CLAMAV_PORT: String(await freePort()) });
    try {
      const down = saw(await call(blind, null, "GET", "/health/ready"));
      assert.equal(down.status, 503);
      assert.equal(down.body.status, "not_ready");
      assert.equal((down.body.checks as Record<string, { state: string }>).clamd!.state, "down");
      assert.match((await call(blind, null, "GET", "/metrics")).body.text as string, /medical_clamd_up 0/);
    } finally {
      await blind.close();
    }
  });

  it("Redis restarting or away: 503 QUEUE_UNAVAILABLE with Retry-After within seconds, never a 500; no file left; accepted again once it is back", async () => {
    const answers = new Map<string, number>();
    let uploading = true;
    // A key of its own, with room for a day of uploads: a fast machine sends hundreds here.
    const courier = await app.key("restart-courier", "enterprise");
    const uploads = Array.from({ length: 4 }, async (_, c) => {
      for (let i = 0; uploading; i++) {
        const r = await upload(app, courier, Buffer.from(`restart ${c} ${i}`), { name: "note.txt" });
        const key = `${r.status} ${(r.body.error as { code?: string } | undefined)?.code ?? ""}`.trim();
        answers.set(key, (answers.get(key) ?? 0) + 1);
      }
    });
    for (let n = 0; n < 2; n++) {
      await new Promise((r) => setTimeout(r, 700));
      await stack.redis.restart();
    }
    uploading = false;
    await Promise.all(uploads);
    assert.deepEqual([...answers.keys()].filter((k) => k !== "202" && k !== "503 QUEUE_UNAVAILABLE"), [], JSON.stringify([...answers]));

    await stack.redis.stop();
    try {
      for (const [method, path, send] of [
        ["POST", "/api/medical-files/upload", () => upload(app, alice, Buffer.from("while Redis is away"), { name: "away.txt" })],
        ["GET", "/api/medical-files/scan-queue", () => call(app, alice, "GET", "/api/medical-files/scan-queue")],
        ["GET", "/metrics", () => call(app, null, "GET", "/metrics")],
      ] as const) {
        const started = Date.now();
        const r = saw(await send());
        assert.equal(r.status, 503, `${method} ${path}: ${JSON.stringify(r.body)}`);
        assert.equal((r.body.error as { code: string }).code, "QUEUE_UNAVAILABLE");
        assert.equal(r.headers.get("retry-after"), "5");
        assert.ok(Date.now() - started < 10_000, `${method} ${path} answered after ${Date.now() - started} ms`);
      }
      assert.equal((await call(app, alice, "GET", "/api/medical-files/?limit=1")).status, 200, "what needs only the store still answers");
      assert.equal(await incomingLeft(), 0);
    } finally {
      await stack.redis.launch();
    }
    await eventually(async () => (await upload(app, alice, Buffer.from("Redis is back"), { name: "back.txt" })).status === 202, 30_000, "uploads to be accepted again");
  });

  it("the OpenAPI document is valid 3.1 and describes exactly the routes served", async () => {
    const served = await call(app, null, "GET", "/api/openapi.json");
    assert.deepEqual(served.body, JSON.parse(JSON.stringify(OPENAPI_DOCUMENT)));
    const validator = new Validator();
    const result = await validator.validate(JSON.parse(JSON.stringify(OPENAPI_DOCUMENT)));
    assert.equal(result.valid, true, JSON.stringify(result.errors));
    assert.equal(validator.version, "3.1");

    const { routers } = createApi(app.service.daemon, app.service.metrics, createLogger("silent"));
    const routes = new Set(
      routers.flatMap((r) => r.stack.flatMap((layer) => layer.methods.filter((m) => m !== "HEAD").map((m) => `${m} ${String(layer.path).replace(/:(\w+)/g, "{$1}")}`))),
    );
    const documented = new Set(Object.entries(OPENAPI_DOCUMENT.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)));
    assert.deepEqual([...routes].sort(), [...documented].sort());
  });

  it("every status code of the contract came from a real request", () => {
    for (const code of [200, 202, 400, 401, 403, 404, 409, 410, 413, 415, 422, 429, 503]) assert.ok(seen.has(code), `no request answered ${code}`);
  });
});
