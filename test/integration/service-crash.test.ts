import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { promisify } from "node:util";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../../app/config.ts";
import { DailyCounter } from "../../app/intake/daily-counter.ts";
import { FileStorage } from "../../app/intake/file-storage.ts";
import { Submissions } from "../../app/intake/submissions.ts";
import { createLogger } from "../../app/log.ts";
import { ScanQueue } from "../../app/queue/scan-queue.ts";
import { connectRedis } from "../../app/store/redis-connection.ts";
import { openStore, storeSettings } from "../../app/store/store.ts";
import { buildDicom, BASIC_ELEMENTS, text } from "../fixtures/dicom.ts";
import { eicar } from "../fixtures/eicar.ts";
import { ROOT } from "../harness/clamd.ts";
import { GatedProxy } from "../harness/gated-proxy.ts";
import { freePort } from "../harness/ports.ts";
import { terminate } from "../harness/processes.ts";
import { eventually, recordEvents, startServiceStack, type ServiceStack } from "../harness/service-stack.ts";

const run = promisify(execFile);

function uniqueDicom(i: number): Buffer {
  return buildDicom({ elements: [...BASIC_ELEMENTS.filter((e) => !(e.group === 0x0010 && e.element === 0x0020)), { group: 0x0010, element: 0x0020, vr: "LO", value: text(`CRASH${i}`) }] });
}

describe("service under failure: crashes, clamd outages, dead letters", () => {
  let stack: ServiceStack;
  before(async () => {
    stack = await startServiceStack();
  });
  after(() => stack.close());

  for (const [what, maxStalled, expected] of [
    ["runs again after the lock expires: one result row, one result event", "1", "clean"],
    ["past the stall limit, becomes a final error result (never a forgotten pending row)", "0", "error"],
  ] as const) {
    it(`a worker SIGKILLed mid-scan: the job ${what}`, async () => {
      const gate = await GatedProxy.start(stack.clamd.port);
      const env = { CLAMAV_PORT: String(gate.port), SCAN_JOB_TIMEOUT_MS: "6000", SCAN_LOCK_DURATION_MS: "8000", SCAN_MAX_STALLED_COUNT: maxStalled, ...(await stack.scenario(`kill${maxStalled}`)) };
      try {
        const submitter = await stack.daemon({ worker: false, env });
        const events = recordEvents(submitter, "scan_result");
        gate.hold();
        const first = await stack.spawnWorker(env);
        const { fileId, jobId } = await submitter.submitFile({ filePath: await stack.file("IM1.dcm", uniqueDicom(Number(maxStalled))), fileName: "IM1.dcm", userTier: "premium", userId: "erin" });
        // Active in Bull as well: under load the held connection may be the worker's own clamd check, before it took the job.
        await eventually(async () => gate.held > 0 && (await submitter.queueCounts()).active > 0, 20_000, "the scan to be running and at clamd");
        await terminate(first, "SIGKILL");
        gate.release();
        await stack.spawnWorker(env);
        const scan = await submitter.waitForResult(jobId, 60_000);
        assert.equal(scan?.status, expected, JSON.stringify(scan?.results.engines));
        await new Promise((r) => setTimeout(r, 1000));
        assert.equal((await submitter.getScans(fileId)).length, 1, "one result row");
        assert.equal(events.filter((e) => e.jobId === jobId).length, 1, "one result event");
      } finally {
        gate.close();
      }
    });
  }

  it("an intake that dies the moment an upload's row commits leaves that file with its bytes, and its scan runs", async () => {
    const env = { ...stack.env, ...(await stack.scenario("commit")) };
    const config = loadConfig(env);
    const log = createLogger("silent");
    const store = await openStore(storeSettings(config));
    const redis = await connectRedis(config.redis.url, log, "test");
    const queue = new ScanQueue(config.redis.url, config.queue, log);
    const storage = new FileStorage(config.dataDir);
    await storage.init();
    let atCommit: { storedPath: string; bytesThere: boolean } | undefined;
    // The process stops right after the commit: nothing the submission does next ever runs.
    const db = new Proxy(store.db, {
      get: (target, key) =>
        key === "transaction"
          ? async (body: Parameters<typeof target.transaction>[0]) => {
              const record = (await target.transaction(body)) as { storedPath: string };
              atCommit = { storedPath: record.storedPath, bytesThere: existsSync(record.storedPath) };
              return new Promise<never>(() => {});
            }
          : (Reflect.get(target, key) as unknown),
    });
    try {
      const submissions = new Submissions({ ...store, db }, storage, queue, new DailyCounter(redis, `msd:${config.queue.name}`), log, config.tiers);
      void submissions.submitFile({ fileId: "killed-at-commit", filePath: await stack.file("IM7.dcm", uniqueDicom(7)), fileName: "IM7.dcm", userTier: "premium", userId: "hana" });
      await eventually(async () => atCommit !== undefined, 10_000, "the upload's commit");
      assert.equal(atCommit!.bytesThere, true, "the bytes are under DATA_DIR/files when the row commits");
      assert.deepEqual(await readdir(storage.incomingDir), [], "nothing left in incoming for a start-up sweep to remove");
    } finally {
      await queue.close();
      await redis.close();
      await store.close();
    }
    const worker = await stack.daemon({ env });
    // Committed but never queued: the reconciler queues it once it is past the in-flight grace
    // (this pass, or the worker's own if the test ran slow).
    await worker.reconcile(new Date(Date.now() + 60_000));
    const [scan] = await eventually(async () => {
      const scans = await worker.getScans("killed-at-commit", "hana");
      return scans.length > 0 && scans;
    }, 30_000, "the scan's result");
    assert.equal(scan!.status, "clean", JSON.stringify(scan!.results.engines));
    assert.equal((await worker.getFile("killed-at-commit")).state, "stored");
  });

  it("clamd stopped for 30 s during a batch: nothing comes back clean meanwhile; retried jobs then finish right", async () => {
    const env = { SCAN_JOB_ATTEMPTS: "8", SCAN_RETRY_DELAY_MS: "1000", ...(await stack.scenario("outage")) };
    const daemon = await stack.daemon({ env });
    const events = recordEvents(daemon, "scan_result");
    const submit = async (i: number) => {
      const bad = i % 5 === 0;
      const name = bad ? `n${i}.txt` : `IM${i}.dcm`;
      const data = bad ? Buffer.concat([eicar(), Buffer.from(`\n${i}`)]) : uniqueDicom(100 + i);
      return { bad, ...(await daemon.submitFile({ filePath: await stack.file(name, data), fileName: name, userTier: "free", userId: `outage-${i % 4}` })) };
    };
    // clamd stops at the fifth verdict itself, not at a poll's next turn: on a fast machine a
    // first batch of 20 was all scanned in between, and the outage then met none of it.
    const fifth = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("timed out after 30000 ms waiting for the first results")), 30_000);
      const seen = () => {
        if (events.length < 5) return;
        daemon.off("scan_result", seen);
        clearTimeout(timer);
        resolve();
      };
      daemon.on("scan_result", seen);
    });
    const early = await Promise.all(Array.from({ length: 40 }, (_, i) => submit(i)));
    await fifth;
    await stack.clamd.stop();
    // Scans whose clamd answer arrived before the stop may still be recorded in the next moment.
    await new Promise((r) => setTimeout(r, 1000));
    const atDown = events.length;
    const duringOutage = await Promise.all(Array.from({ length: 20 }, (_, i) => submit(20 + i)));
    await new Promise((r) => setTimeout(r, 29_000));
    const whileDown = events.slice(atDown);
    await stack.clamd.launch();
    for (const e of whileDown) assert.notEqual(e.result.status, "clean", `job ${e.jobId} came back clean while clamd was down`);
    assert.ok(whileDown.every((e) => !duringOutage.some((j) => j.jobId === e.jobId && e.result.status === "clean")));
    assert.ok(early.some((j) => !events.slice(0, atDown).some((e) => e.jobId === j.jobId)), "some of the first batch was still waiting when clamd stopped");

    const all = [...early, ...duringOutage];
    await eventually(async () => (await Promise.all(all.map((j) => daemon.getScans(j.fileId)))).every((s) => s.length === 1), 120_000, "every result after clamd is back");
    for (const j of all) {
      const [scan] = await daemon.getScans(j.fileId);
      assert.equal(scan!.status, j.bad ? "infected" : "clean", `${j.fileId}: ${JSON.stringify(scan!.results.engines.clamav)}`);
    }
  });

  it("jobs that exhaust their attempts stay in the failed list and the CLI re-drives them", async () => {
    const env = { ...stack.env, CLAMAV_PORT: String(await freePort()), SCAN_JOB_ATTEMPTS: "2", SCAN_RETRY_DELAY_MS: "200", ...(await stack.scenario("dead")) };
    const broken = await stack.daemon({ env });
    const { fileId, jobId } = await broken.submitFile({ filePath: await stack.file("IM9.dcm", uniqueDicom(999)), fileName: "IM9.dcm", userTier: "premium", userId: "frank" });
    assert.equal((await broken.waitForResult(jobId, 30_000))?.status, "error");
    await eventually(async () => (await broken.failedJobs()).some((j) => j.jobId === jobId), 10_000, "the job in the failed list");
    assert.equal((await broken.getFile(fileId)).state, "quarantined", "an error verdict is not clean: held in quarantine");
    await broken.close();

    const cli = (...args: string[]) => run(process.execPath, ["--import", "tsx", path.join(ROOT, "app/scan-daemon.ts"), ...args], { env: { ...process.env, ...env, CLAMAV_PORT: String(stack.clamd.port) } });
    assert.match((await cli("queue", "failed")).stdout, new RegExp(`${jobId} file=${fileId} .*clamav: ENGINE_UNAVAILABLE`));
    const redriven = /-> (\S+)/.exec((await cli("queue", "retry", "--all")).stdout)![1]!;
    assert.match((await cli("queue", "failed")).stdout, /^0 failed job\(s\)$/m);

    const healthy = await stack.daemon({ env: { ...env, CLAMAV_PORT: String(stack.clamd.port) } });
    assert.equal((await healthy.waitForResult(redriven, 30_000))?.status, "clean");
    assert.equal((await healthy.getFile(fileId)).state, "released", "held only for an error: released by the clean rescan");
    assert.deepEqual((await healthy.getScans(fileId)).map((s) => s.status), ["clean", "error"]);
  });
});
