import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { ScanResult } from "../../app/verdict/scan-result.ts";
import { DEFAULT_TIER_LIMITS } from "../../app/verdict/tiers.ts";
import { adversarialFiles, type AdversarialFile } from "../fixtures/adversarial.ts";
import { BASIC_ELEMENTS, buildDicom, text } from "../fixtures/dicom.ts";
import { call, rawUpload, upload } from "../harness/api-app.ts";
import { Appliance } from "../harness/appliance.ts";
import { eventually } from "../harness/service-stack.ts";

const MiB = 1024 * 1024;
let seq = 0;
/** A clean DICOM no other request sent, so that no answer comes from a cache. */
const freshDicom = () => buildDicom({ elements: [...BASIC_ELEMENTS, { group: 0x0020, element: 0x000d, vr: "UI", value: text(`1.2.826.0.9.${process.pid}.${++seq}`) }] });

/**
 * The adversarial catalogue and every hostile request shape, over HTTP against the native
 * appliance (supervisord, clamd, Redis, the built app). Every answer must be a 2xx with a
 * verdict or a precise 4xx with a JSON body; at the end the app has not restarted and no
 * upload or scan left a file behind.
 */
describe("adversarial inputs over HTTP against the running appliance", { timeout: 900_000 }, () => {
  let appliance: Appliance;
  let gold: string;
  let free: string;
  let other: string;
  let revoked: string;
  let appPid: Awaited<ReturnType<Appliance["appPids"]>>;
  const statuses: { what: string; status: number }[] = [];
  const seen = <T extends { status: number }>(what: string, r: T): T => {
    statuses.push({ what, status: r.status });
    return r;
  };

  before(async () => {
    appliance = await Appliance.start({ CLAMAV_OFFICIAL_DATABASES: "false" });
    [gold, free, other] = await Promise.all([appliance.key("alice", "gold"), appliance.key("bob", "free"), appliance.key("mallory", "gold")]).then((ks) => ks.map((k) => k.key));
    const eve = await appliance.key("eve", "gold");
    const revoke = await appliance.cli(["keys", "revoke", eve.id]);
    assert.equal(revoke.status, 0, revoke.output);
    revoked = eve.key;
    appPid = await appliance.appPids();
  });
  after(() => appliance?.destroy());

  const leftovers = async () => {
    const dirs = [path.join(appliance.home, "data/incoming"), path.join(appliance.home, "tmp")];
    const lists = await Promise.all(dirs.map((d) => readdir(d).catch(() => [] as string[])));
    return lists.flat();
  };
  const expectError = (r: { status: number; body: Record<string, unknown> }, status: number, code: string) => {
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.equal((r.body.error as { code?: string } | undefined)?.code, code, JSON.stringify(r.body));
  };
  const rawJson = (r: { status: number; body: string } | "aborted") => {
    assert.notEqual(r, "aborted");
    const answer = r as { status: number; body: string };
    return seen("raw", { status: answer.status, body: JSON.parse(answer.body) as Record<string, unknown> });
  };

  const verdictCase = (f: AdversarialFile) =>
    it(`${f.id}: ${f.what} → ${f.expect.verdict === "clean" ? "clean" : `not clean (${f.expect.finding})`}`, async () => {
      const r = seen(f.id, await upload(appliance, gold, await f.build(), { name: f.fileName, type: f.contentType, query: "?wait=110" }));
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const result = r.body.result as ScanResult;
      const found = result.findings.map((x) => `${x.engine}:${x.id}`).join(", ");
      if (f.expect.verdict === "clean") {
        assert.equal(result.status, "clean", found);
        return;
      }
      assert.ok(result.status === "suspicious" || result.status === "infected", `${result.status}: ${found}`);
      assert.ok(result.findings.some((x) => x.id === (f.expect as { finding: string }).finding), found);
      expectError(seen(f.id, await call(appliance, gold, "GET", `/api/medical-files/${String(r.body.fileId)}/content`)), 409, "NOT_CLEAN");
    });
  for (const f of adversarialFiles()) verdictCase(f);

  for (const [what, name] of [
    ["NUL", "scan.exe\u0000.dcm"],
    ["right-to-left override", "IM0001\u202emcd.exe"],
    ["../ traversal", "../../../../etc/cron.d/msd-evil.dcm"],
    ["absolute path", "/etc/msd-evil.dcm"],
    ["drive letter", "C:/Windows/System32/msd-evil.dcm"],
    ["1,000 bytes", `${"a".repeat(996)}.dcm`],
  ] as const) {
    it(`a file name with ${what} is 400 INVALID_FILE_NAME, stored nowhere`, async () => {
      expectError(seen(what, await upload(appliance, gold, freshDicom(), { name })), 400, "INVALID_FILE_NAME");
      assert.ok(!existsSync("/etc/cron.d/msd-evil.dcm") && !existsSync("/etc/msd-evil.dcm"));
    });
  }

  it("a Windows path with backslashes is cut to its base name by the multipart parser, as old browsers send it", async () => {
    const r = seen("backslash", await upload(appliance, gold, freshDicom(), { name: "C:\\Users\\x\\Desktop\\IM0007.dcm", query: "?wait=60" }));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(seen("backslash", await call(appliance, gold, "GET", `/api/medical-files/${String(r.body.fileId)}`)).body.fileName, "IM0007.dcm");
  });

  it("a file name with LF written raw into the part header is 400 INVALID_FILE_NAME", async () => {
    const r = rawJson(await rawUpload(appliance, { key: gold, data: freshDicom(), fileName: "scan\n.dcm" }));
    expectError(r, 400, "INVALID_FILE_NAME");
  });

  it("CR/LF written raw into the part header ends the header there: what follows is content, and the upload is not clean", async () => {
    const r = rawJson(await rawUpload(appliance, { key: gold, data: freshDicom(), fileName: 'scan.dcm"\r\nContent-Type: text/html\r\n\r\n<script>alert(1)</script>' }));
    assert.ok(r.status === 400 || r.status === 202, JSON.stringify(r.body));
    if (r.status === 400) return;
    const status = await eventually(async () => {
      const file = await call(appliance, gold, "GET", `/api/medical-files/${String(r.body.fileId)}`);
      return file.body.status !== "queued" && (file.body.status as string);
    }, 60_000, "the verdict");
    assert.ok(status === "suspicious" || status === "infected", status);
  });

  it("a clean DICOM named plainly is accepted and clean (the names above were refused for their names alone)", async () => {
    const r = seen("plain", await upload(appliance, gold, freshDicom(), { name: "IM0001.dcm", query: "?wait=60" }));
    assert.equal((r.body.result as ScanResult).status, "clean");
  });

  it("a wrong fileHash is 422 INTEGRITY_MISMATCH; an empty file is 400 EMPTY_FILE", async () => {
    expectError(seen("hash", await upload(appliance, gold, freshDicom(), { fields: { fileHash: "0".repeat(64) } })), 422, "INTEGRITY_MISMATCH");
    expectError(seen("empty", await upload(appliance, gold, Buffer.alloc(0))), 400, "EMPTY_FILE");
  });

  it("one byte over the free tier's 10 MiB is 413, declared or streamed chunked with no length", async () => {
    const over = DEFAULT_TIER_LIMITS.free.maxFileBytes + 1;
    expectError(seen("over", await upload(appliance, free, Buffer.alloc(over, 0x41), { name: "big.txt" })), 413, "FILE_TOO_LARGE");
    const chunked = rawJson(await rawUpload(appliance, { key: free, size: over }));
    expectError(chunked, 413, "FILE_TOO_LARGE");
  });

  it("a chunked upload with no length is accepted and scanned", async () => {
    const r = rawJson(await rawUpload(appliance, { key: gold, data: freshDicom(), fileName: "chunked.dcm" }));
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const status = await eventually(async () => {
      const file = await call(appliance, gold, "GET", `/api/medical-files/${String(r.body.fileId)}`);
      return file.body.status !== "queued" && (file.body.status as string);
    }, 60_000, "the chunked upload's verdict");
    assert.equal(status, "clean");
  });

  it("a client gone mid-upload leaves no file behind and the service answers the next request", async () => {
    const gone = await rawUpload(appliance, { key: gold, size: 8 * MiB, contentLength: 8 * MiB + 400, abortAfter: 2 * MiB });
    assert.equal(gone, "aborted");
    await eventually(async () => (await leftovers()).length === 0, 20_000, "the aborted upload's folder to go");
    assert.equal(seen("after abort", await call(appliance, gold, "GET", "/api/medical-files/scan-queue")).status, 200);
  });

  it("two files, or twenty fields, in one request are 400 TOO_MANY_PARTS", async () => {
    const two = new FormData();
    two.append("file", new Blob([freshDicom()]), "a.dcm");
    two.append("file", new Blob([freshDicom()]), "b.dcm");
    const res = await fetch(`${appliance.base}/api/medical-files/upload`, { method: "POST", body: two, headers: { authorization: `Bearer ${gold}` } });
    expectError(seen("two files", { status: res.status, body: (await res.json()) as Record<string, unknown> }), 400, "TOO_MANY_PARTS");
    const fields = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}`, "x"]));
    expectError(seen("fields", await upload(appliance, gold, freshDicom(), { fields })), 400, "TOO_MANY_PARTS");
    // formidable opens the second file after it has failed the request; that file must go too.
    await eventually(async () => (await leftovers()).length === 0, 10_000, "the refused parts' files to go");
  });

  it("no key, a wrong key and a revoked key are 401 before the body is read", async () => {
    expectError(seen("no key", await upload(appliance, null, freshDicom())), 401, "MISSING_API_KEY");
    expectError(seen("wrong key", await upload(appliance, "msd_not-a-real-key", freshDicom())), 401, "INVALID_API_KEY");
    expectError(seen("revoked", await upload(appliance, revoked, freshDicom())), 401, "INVALID_API_KEY");
  });

  it("another tenant's file id is 404 on every route: metadata, scans, content, rescan", async () => {
    const mine = seen("owner", await upload(appliance, gold, freshDicom(), { name: "IM0009.dcm", query: "?wait=60" }));
    const id = String(mine.body.fileId);
    for (const [method, route] of [["GET", ""], ["GET", "/scans"], ["GET", "/content"], ["POST", "/rescan"]] as const) {
      expectError(seen("tenant", await call(appliance, other, method, `/api/medical-files/${id}${route}`)), 404, "FILE_NOT_FOUND");
    }
    assert.equal(seen("owner", await call(appliance, gold, "GET", `/api/medical-files/${id}/content`)).status, 200);
  });

  it("afterwards: no answer was a 5xx, the app never restarted, no temporary file is left, the health check passes", async () => {
    assert.deepEqual(statuses.filter((s) => s.status >= 500), []);
    assert.deepEqual(await appliance.appPids(), appPid);
    await eventually(async () => (await leftovers()).length === 0, 30_000, `no leftovers (${(await leftovers()).join(", ")})`);
    const health = await appliance.run("healthcheck/health-check.sh");
    assert.equal(health.status, 0, health.output);
  });

  it("scan-daemon restart: the app's two programs start again with new pids and the health check passes; an unknown program is exit 2", async () => {
    const before = await appliance.appPids();
    const restarted = await appliance.cli(["restart"]);
    assert.equal(restarted.status, 0, `${restarted.output}\n${await appliance.appLogs()}`);
    const now = await appliance.appPids();
    assert.ok(now.intake !== before.intake && now.worker !== before.worker, JSON.stringify({ before, now }));
    await eventually(async () => (await appliance.run("healthcheck/health-check.sh")).status === 0, 60_000, "the health check after the restart");
    const unknown = await appliance.cli(["restart", "no-such-program"]);
    assert.equal(unknown.status, 2, unknown.output);
    assert.match(unknown.output, /no such (process|group)/);
    const help = await appliance.cli(["help"]);
    assert.equal(help.status, 0);
    assert.match(help.output, /scan-daemon restart \[PROGRAM\.\.\.\]/);
  });

  it("scan-daemon stop returns once every program and supervisord are gone; afterwards stop is 0 with nothing to stop, status and restart are 3", async () => {
    const supervisord = Number((await appliance.run("scripts/appliance-ctl.sh", ["pid"])).output.trim());
    const pids = [supervisord, ...(await Promise.all(["clamd", "redis", "scan-daemon:intake", "scan-daemon:worker"].map((p) => appliance.pid(p))))];
    const stopped = await appliance.cli(["stop"]);
    assert.equal(stopped.status, 0, stopped.output);
    assert.match(stopped.output, /stopped/);
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), `pid ${pid} is gone`);
    const again = await appliance.cli(["stop"]);
    assert.deepEqual([again.status, /nothing to stop/.test(again.output)], [0, true], again.output);
    for (const command of [["status"], ["restart"]]) {
      const r = await appliance.cli(command);
      assert.equal(r.status, 3, `${command.join(" ")}: ${r.output}`);
      assert.match(r.output, /no appliance is running/);
    }
  });
});
