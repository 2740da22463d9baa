import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import Bull from "bull";
import { createClient } from "redis";
import { eventually, startServiceStack, type ServiceStack } from "../harness/service-stack.ts";

describe("hardening: what a queue writer or a hostile client cannot do (real Redis, clamd)", { timeout: 300_000 }, () => {
  let stack: ServiceStack;
  before(async () => {
    stack = await startServiceStack();
  });
  after(() => stack.close());

  it("the worker takes tier and scan type from SQLite: tampered Redis data gets an error verdict, a job SQLite never saw is not scanned", async () => {
    const env = stack.scenario("tamper");
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
});
