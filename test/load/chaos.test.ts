import assert from "node:assert/strict";
import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { DATABASE_FILE } from "../../app/store/store.ts";
import { SqliteDatabase } from "../../app/store/sqlite.ts";
import { batchFile, type BatchFile } from "../fixtures/batch.ts";
import { Appliance } from "../harness/appliance.ts";
import { CLAM_EXE } from "../harness/clamd.ts";
import { FAST_QUEUE_ENV } from "../harness/service-stack.ts";

const FILES = Number(process.env.CHAOS_FILES ?? 200);
/** Sent while Redis restarts and clamd is down, so that uploads meet those too. */
const LATE_FILES = 20;
const UPLOAD_DEADLINE_MS = 240_000;
const RESULT_DEADLINE_MS = 420_000;
const FINAL = new Set(["clean", "suspicious", "infected", "error"]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const between = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo));

interface Tracked extends BatchFile {
  readonly fileId: string;
  attempts: number;
  /** The answer that proved the file accepted: 202, or 409 when an earlier attempt was accepted but its answer lost. */
  acceptedWith?: number;
  final?: string;
}

/**
 * Chaos under load against the native appliance: 200 uploads at once, one in ten malicious,
 * while the app (its intake and its worker) is SIGKILLed at random three times, Redis restarts once and
 * clamd is stopped for 30 s. A client retries what failed with its own fileId, as a PACS
 * gateway would. Afterwards every file has exactly one final result, none malicious is clean,
 * SQLite's integrity check passes and nothing is left in the upload or scan folders.
 */
describe("chaos under load against the running appliance", { timeout: 900_000 }, () => {
  let appliance: Appliance;
  let key: string;
  const events: string[] = [];
  let t0 = performance.now();
  const note = (what: string) => {
    const line = `[chaos +${((performance.now() - t0) / 1000).toFixed(1)}s] ${what}`;
    events.push(line);
    console.log(line);
  };

  before(async () => {
    appliance = await Appliance.start({ ...FAST_QUEUE_ENV, CLAMAV_OFFICIAL_DATABASES: "false", SCAN_JOB_ATTEMPTS: "5", SCAN_RETRY_DELAY_MS: "3000" });
    key = (await appliance.key("chaos-gateway", "gold")).key;
  });
  after(() => appliance?.destroy());

  const ctl = async (...args: string[]) => {
    const r = await appliance.run("scripts/appliance-ctl.sh", args);
    note(`supervisorctl ${args.join(" ")}: ${r.output.trim().replace(/\s+/g, " ")}`);
  };
  const killApp = async () => {
    const pids = await appliance.appPids();
    for (const pid of Object.values(pids)) if (pid > 0) process.kill(pid, "SIGKILL");
    note(`SIGKILL scan-daemon: intake pid ${pids.intake}, worker pid ${pids.worker}`);
  };

  /** Why attempts failed, by reason and by the 5-second window they failed in. */
  const failures = new Map<string, number>();
  const failed = (reason: string) => {
    const key = `${reason} @${Math.floor((performance.now() - t0) / 5000) * 5}s`;
    failures.set(key, (failures.get(key) ?? 0) + 1);
  };
  const uploadUntilAccepted = async (f: Tracked, deadline: number) => {
    while (performance.now() < deadline) {
      f.attempts++;
      const form = new FormData();
      form.append("fileId", f.fileId);
      form.append("file", new Blob([f.data]), f.name);
      try {
        const res = await fetch(`${appliance.base}/api/medical-files/upload`, { method: "POST", body: form, headers: { authorization: `Bearer ${key}` }, signal: AbortSignal.timeout(60_000) });
        const body = (await res.json()) as { error?: { code: string } };
        if (res.status === 202 || (res.status === 409 && body.error?.code === "DUPLICATE_FILE")) {
          f.acceptedWith = res.status;
          return;
        }
        // 503: a dependency away (Redis restarting, the store busy); anything else is a fault.
        if (res.status !== 503) throw new Error(`upload ${f.fileId}: ${res.status} ${JSON.stringify(body)}`);
        failed(`${res.status} ${body.error?.code ?? ""}`);
      } catch (err) {
        if ((err as Error).message.startsWith("upload ")) throw err;
        const cause = (err as { cause?: { code?: string } }).cause?.code;
        failed(cause ?? (err as Error).name);
      }
      await sleep(500);
    }
  };

  const scansOf = async (fileId: string): Promise<{ status: string }[] | null> => {
    try {
      const res = await fetch(`${appliance.base}/api/medical-files/${fileId}/scans`, { headers: { authorization: `Bearer ${key}` }, signal: AbortSignal.timeout(10_000) });
      return res.status === 200 ? ((await res.json()) as { scans: { status: string }[] }).scans : null;
    } catch {
      return null;
    }
  };

  it(`${FILES} uploads at once and ${LATE_FILES} more, 10% malicious, app SIGKILLed 3 times, Redis restarted, clamd down 30 s: one final result each, none malicious clean`, async () => {
    const clamExe = await readFile(CLAM_EXE);
    const files: Tracked[] = await Promise.all(Array.from({ length: FILES + LATE_FILES }, async (_, i) => ({ ...(await batchFile(i, clamExe)), fileId: `chaos-${i}`, attempts: 0 })));
    const [first, late] = [files.slice(0, FILES), files.slice(FILES)];
    t0 = performance.now();
    note(`${first.length} files at once and ${late.length} during the Redis restart and the clamd outage; ${files.filter((f) => f.kind !== "clean").length} malicious; ${(files.reduce((n, f) => n + f.data.length, 0) / 1e6).toFixed(1)} MB`);

    const send = (batch: Tracked[]) => Promise.all(batch.map((f) => uploadUntilAccepted(f, performance.now() + UPLOAD_DEADLINE_MS)));
    let lateSent: Promise<unknown> = Promise.resolve();
    const uploads = send(first).then(() => note(`the first ${FILES} are accepted`));
    const chaos = (async () => {
      await sleep(between(200, 1200));
      await killApp();
      await sleep(between(4000, 8000));
      lateSent = send(late);
      await ctl("restart", "redis");
      await sleep(between(2000, 5000));
      await ctl("stop", "clamd");
      const outage = sleep(30_000);
      await sleep(between(5000, 20_000));
      await killApp();
      await outage;
      await ctl("start", "clamd");
      await sleep(between(1000, 6000));
      await killApp();
    })();
    await Promise.all([uploads, chaos]);
    await lateSent;
    const unaccepted = files.filter((f) => f.acceptedWith === undefined).map((f) => f.fileId);
    assert.deepEqual(unaccepted, [], "every upload accepted in the end");
    note(`all accepted: ${files.filter((f) => f.acceptedWith === 409).length} on a retry whose first answer was lost, ${files.reduce((n, f) => n + f.attempts - 1, 0)} retries`);
    note(`failed attempts: ${JSON.stringify(Object.fromEntries(failures))}`);

    const resultsBy = performance.now() + RESULT_DEADLINE_MS;
    for (let open = files; open.length > 0 && performance.now() < resultsBy; ) {
      await Promise.all(
        open.map(async (f) => {
          const scans = await scansOf(f.fileId);
          if (scans?.some((s) => FINAL.has(s.status))) f.final = scans.find((s) => FINAL.has(s.status))!.status;
        }),
      );
      open = files.filter((f) => f.final === undefined);
      if (open.length > 0) await sleep(1000);
    }
    note("every file has a final result; waiting 5 s for any duplicate to show");
    await sleep(5000);

    const counts: Record<string, number> = {};
    const problems: string[] = [];
    for (const f of files) {
      const scans = await scansOf(f.fileId);
      if (scans === null) problems.push(`${f.fileId}: scans unreadable`);
      else if (scans.length !== 1) problems.push(`${f.fileId}: ${scans.length} results (${scans.map((s) => s.status).join(", ")})`);
      const status = scans?.[0]?.status ?? "none";
      const bucket = `${f.kind === "clean" ? "benign" : "malicious"} ${status}`;
      counts[bucket] = (counts[bucket] ?? 0) + 1;
      if (f.kind !== "clean" && status === "clean") problems.push(`${f.fileId} (${f.kind}) is clean`);
    }
    note(`verdicts: ${JSON.stringify(counts)}`);
    assert.deepEqual(problems, []);

    const output = await appliance.stop();
    assert.doesNotMatch(output, /\bFATAL\b/);
    const db = await SqliteDatabase.open(path.join(appliance.home, "data", DATABASE_FILE));
    try {
      const integrity = await db.all<{ integrity_check: string }>("PRAGMA integrity_check");
      note(`SQLite integrity_check: ${integrity.map((r) => r.integrity_check).join(", ")}`);
      assert.deepEqual(integrity, [{ integrity_check: "ok" }]);
      const rows = await db.get<{ files: number; results: number; open: number }>(
        "SELECT (SELECT COUNT(*) FROM files) AS files, (SELECT COUNT(*) FROM scan_results) AS results, (SELECT COUNT(*) FROM scan_queue_status WHERE status IN ('waiting', 'active', 'retrying')) AS open",
      );
      note(`SQLite: ${rows!.files} files, ${rows!.results} results, ${rows!.open} open jobs`);
      assert.deepEqual(rows, { files: files.length, results: files.length, open: 0 });
    } finally {
      await db.close();
    }
    // Killed processes leave their upload and scan folders; the next start sweeps them.
    const leftovers = (await Promise.all(["data/incoming", "tmp"].map((d) => readdir(path.join(appliance.home, d)).catch(() => [] as string[])))).flat().filter((n) => n.includes("@"));
    note(`temporary folders left after the stop: ${leftovers.length}`);
    assert.deepEqual(leftovers, []);
    console.log(events.join("\n"));
  });
});
