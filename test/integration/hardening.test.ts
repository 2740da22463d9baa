import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import Bull from "bull";
import { createClient } from "redis";
import { VirusTotalClient } from "../../app/engines/virustotal/virustotal-client.ts";
import { loadConfig } from "../../app/config.ts";
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
    const env = { ...stack.scenario("devsigs"), CLAMAV_DB_DIR: stack.clamd.dbDir };
    const daemon = await stack.daemon({ env });
    const { jobId } = await daemon.submitFile({ filePath: await stack.file("note.txt", Buffer.from("scanned with test signatures\n")), fileName: "note.txt", userTier: "free", userId: "dev" });
    const scan = await daemon.waitForResult(jobId, 60_000);
    assert.equal(scan?.status, "clean");
    assert.equal(scan?.results.engines.clamav?.signatures, "development", JSON.stringify(scan?.results.engines.clamav));
  });
});
