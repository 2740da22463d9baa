import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, it } from "node:test";
import { waitForVerdict } from "../../app/intake/result-waiter.ts";
import type { ScanRecord } from "../../app/store/scan-repo.ts";
import type { ScanResult } from "../../app/verdict/scan-result.ts";

const verdict = (status: ScanResult["status"]) => ({ status }) as ScanResult;

function repo(record?: ScanRecord) {
  const reads: string[] = [];
  return {
    reads,
    scans: {
      resultForJob: async (jobId: string) => {
        reads.push(jobId);
        return record;
      },
    },
  };
}

describe("an upload's ?wait", () => {
  it("answers a verdict recorded before it listened from the store", async () => {
    const { scans, reads } = repo({ results: verdict("infected") } as ScanRecord);
    const events = new EventEmitter();
    assert.equal((await waitForVerdict(events, scans, "job-1", 1000))?.status, "infected");
    assert.deepEqual(reads, ["job-1"]);
    assert.equal(events.listenerCount("scan_result"), 0);
  });

  it("answers with the announced verdict of its own job, without reading it back", async () => {
    const { scans, reads } = repo();
    const events = new EventEmitter();
    const waiting = waitForVerdict(events, scans, "job-2", 5000);
    await new Promise((r) => setImmediate(r));
    events.emit("scan_result", { jobId: "job-other", result: verdict("clean") });
    events.emit("scan_result", { jobId: "job-2", result: verdict("suspicious") });
    assert.equal((await waiting)?.status, "suspicious");
    assert.deepEqual(reads, ["job-2"]);
    assert.equal(events.listenerCount("scan_result"), 0);
  });

  it("gives up after its time with no answer, and stops listening", async () => {
    const { scans } = repo();
    const events = new EventEmitter();
    assert.equal(await waitForVerdict(events, scans, "job-3", 50), undefined);
    assert.equal(events.listenerCount("scan_result"), 0);
  });
});
