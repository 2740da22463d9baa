import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { createClient } from "redis";
import { IN_FLIGHT_MS } from "../../app/queue/reconciler.ts";
import { TIERS } from "../../app/verdict/tiers.ts";
import { buildDicom, BASIC_ELEMENTS, text } from "../fixtures/dicom.ts";
import { eicar } from "../fixtures/eicar.ts";
import { zipOf } from "../fixtures/zips.ts";
import { CLAM_EXE } from "../harness/clamd.ts";
import { GatedProxy } from "../harness/gated-proxy.ts";
import { eventually, recordEvents, startServiceStack, type ServiceStack } from "../harness/service-stack.ts";

type Kind = "clean" | "eicar" | "clam.exe" | "pe-preamble";

/** A distinct file per index (no two share a cache entry): 20 % of them malicious. */
async function sample(i: number, clamExe: Buffer): Promise<{ kind: Kind; name: string; data: Buffer }> {
  const unique = { group: 0x0010, element: 0x0020, vr: "LO", value: text(`PAT${String(i).padStart(5, "0")}`) };
  const elements = [...BASIC_ELEMENTS.filter((e) => !(e.group === 0x0010 && e.element === 0x0020)), unique];
  if (i % 10 === 3) return { kind: "eicar", name: `note-${i}.txt`, data: Buffer.concat([eicar(), Buffer.from(`\n${i}\n`)]) };
  // The test signature is clam.exe's MD5, so it goes into a ZIP (which clamd opens) to stay distinct.
  if (i % 20 === 7) return { kind: "clam.exe", name: `tools-${i}.zip`, data: await zipOf([{ name: "clam.exe", data: clamExe }, { name: "readme.txt", data: Buffer.from(`batch ${i}`) }]) };
  if (i % 20 === 17) return { kind: "pe-preamble", name: `IM${i}.dcm`, data: buildDicom({ preamble: clamExe.subarray(0, 128), elements }) };
  return { kind: "clean", name: `IM${i}.dcm`, data: buildDicom({ elements }) };
}

describe("service under load: every accepted file ends in exactly one final result", () => {
  let stack: ServiceStack;
  let clamExe: Buffer;
  before(async () => {
    stack = await startServiceStack();
    clamExe = await readFile(CLAM_EXE);
  });
  after(() => stack.close());

  it("200 files: one result row and one result event each; malicious ones are never clean", async () => {
    const daemon = await stack.daemon();
    const events = recordEvents(daemon, "scan_result");
    const submitted = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const s = await sample(i, clamExe);
        const { fileId, jobId } = await daemon.submitFile({ filePath: await stack.file(s.name, s.data), fileName: s.name, userTier: TIERS[i % 4]!, userId: `user-${i % 10}` });
        return { ...s, fileId, jobId };
      }),
    );
    await eventually(async () => events.length >= 200, 240_000, "200 result events");
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(events.length, 200, "one result event per job");
    for (const s of submitted) {
      const scans = await daemon.getScans(s.fileId);
      assert.equal(scans.length, 1, `one result row for ${s.name}`);
      const status = scans[0]!.status;
      if (s.kind === "clean") assert.equal(status, "clean", `${s.name}: ${JSON.stringify(scans[0]!.results.engines)}`);
      else assert.equal(status, "infected", `${s.kind} ${s.name} must be infected`);
    }
    const counts = await daemon.queueCounts();
    assert.equal(counts.waiting + counts.active + counts.delayed, 0);
  });

  it("Redis restarted (AOF) with jobs waiting: none is lost, the live worker picks up again", async () => {
    const gate = await GatedProxy.start(stack.clamd.port);
    const queue = { ...(await stack.scenario("restart")), CLAMAV_PORT: String(gate.port), SCAN_JOB_ATTEMPTS: "8" };
    try {
      const submitter = await stack.daemon({ worker: false, env: queue });
      gate.hold();
      const worker = await stack.daemon({ env: queue });
      const jobs = await Promise.all(
        Array.from({ length: 30 }, async (_, i) => {
          const s = await sample(1000 + i, clamExe);
          return { ...s, ...(await submitter.submitFile({ filePath: await stack.file(s.name, s.data), fileName: s.name, userTier: "premium", userId: "restart-user" })) };
        }),
      );
      await eventually(async () => gate.held > 0, 10_000, "a scan held at the gate");
      assert.ok((await submitter.queueCounts()).waiting > 0, "jobs are waiting when Redis goes down");
      await stack.redis.restart();
      const after = await submitter.queueCounts();
      assert.equal(after.waiting + after.active + after.delayed + after.completed + after.failed, jobs.length, "Redis came back from its AOF with every job");
      gate.release();
      await eventually(async () => (await Promise.all(jobs.map((j) => worker.getScans(j.fileId)))).every((s) => s.length === 1), 120_000, "every job's result after the restart");
      for (const j of jobs) {
        const [scan] = await worker.getScans(j.fileId);
        assert.equal(scan!.status, j.kind === "clean" ? "clean" : "infected", j.name);
      }
    } finally {
      gate.close();
    }
  });

  it("Redis losing every job (no AOF, a wiped volume): the reconciler queues again what SQLite holds open", async () => {
    const env = (await stack.scenario("lost"));
    const submitter = await stack.daemon({ worker: false, env });
    const jobs = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const s = await sample(2000 + i, clamExe);
        return { ...s, ...(await submitter.submitFile({ filePath: await stack.file(s.name, s.data), fileName: s.name, userTier: "gold", userId: "lost-user" })) };
      }),
    );
    const redis = createClient({ url: stack.redis.url });
    await redis.connect();
    await redis.flushAll();
    await redis.close();
    assert.equal((await submitter.queueCounts()).waiting, 0, "Redis holds no job any more");
    // Only the passes this test runs: the one at start and the two below.
    const worker = await stack.daemon({ env: { ...env, RECONCILE_INTERVAL_MS: "60000" } });
    assert.equal((await worker.reconcile()).requeued, 0, "jobs this young may still be on their way into Bull");
    assert.equal((await worker.reconcile(new Date(Date.now() + IN_FLIGHT_MS))).requeued, jobs.length);
    for (const j of jobs) {
      const scan = await worker.waitForResult(j.jobId, 60_000);
      assert.equal(scan?.status, j.kind === "clean" ? "clean" : "infected", j.name);
    }
  });
});
