import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, it } from "node:test";
import { waitForVerdict } from "../../app/intake/result-waiter.ts";
import type { FileRecord, FileState } from "../../app/store/file-repo.ts";
import type { QuarantineEntry } from "../../app/store/quarantine-repo.ts";
import type { ScanRecord } from "../../app/store/scan-repo.ts";
import type { ScanResult } from "../../app/verdict/scan-result.ts";

const verdict = (status: ScanResult["status"]) => ({ status }) as ScanResult;

function repo(record?: ScanRecord, fileState: FileState = "stored", heldFor?: QuarantineEntry["verdict"]) {
  const reads: string[] = [];
  return {
    reads,
    store: {
      scans: {
        resultForJob: async (jobId: string) => {
          reads.push(jobId);
          return record;
        },
      },
      files: {
        get: async (id: string) => {
          reads.push(id);
          return { id, state: fileState } as FileRecord;
        },
      },
      quarantine: {
        heldForError: async (fileId: string) => (heldFor === "error" ? ({ fileId, verdict: heldFor } as QuarantineEntry) : undefined),
      },
    },
  };
}

describe("an upload's ?wait", () => {
  it("answers a verdict recorded before it listened from the store", async () => {
    const { store, reads } = repo({ fileId: "file-1", results: verdict("infected") } as ScanRecord, "quarantined");
    const events = new EventEmitter();
    assert.equal((await waitForVerdict(events, store, "job-1", 1000))?.status, "infected");
    assert.deepEqual(reads, ["job-1", "file-1"]);
    assert.equal(events.listenerCount("scan_result"), 0);
  });

  it("answers with the announced verdict of its own job, without reading it back", async () => {
    const { store, reads } = repo();
    const events = new EventEmitter();
    const waiting = waitForVerdict(events, store, "job-2", 5000);
    await new Promise((r) => setImmediate(r));
    events.emit("scan_result", { jobId: "job-other", result: verdict("clean") });
    events.emit("scan_result", { jobId: "job-2", result: verdict("suspicious") });
    assert.equal((await waiting)?.status, "suspicious");
    assert.deepEqual(reads, ["job-2"]);
    assert.equal(events.listenerCount("scan_result"), 0);
  });

  it("gives up after its time with no answer, and stops listening", async () => {
    const { store } = repo();
    const events = new EventEmitter();
    assert.equal(await waitForVerdict(events, store, "job-3", 50), undefined);
    assert.equal(events.listenerCount("scan_result"), 0);
  });

  it("a verdict read while its file is still being quarantined waits for the announcement (the move's end)", async () => {
    const { store } = repo({ fileId: "file-4", results: verdict("infected") } as ScanRecord, "quarantining");
    const events = new EventEmitter();
    let answered = false;
    const waiting = waitForVerdict(events, store, "job-4", 5000).then((r) => {
      answered = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(answered, false, "no answer while the file is on its way into quarantine");
    events.emit("scan_result", { jobId: "job-4", result: verdict("infected") });
    assert.equal((await waiting)?.status, "infected");
    assert.equal(events.listenerCount("scan_result"), 0);
  });

  it("a clean rescan read before the file held for an error is released waits for the announcement; one held as infected answers at once", async () => {
    const releasing = repo({ fileId: "file-6", status: "clean", results: verdict("clean") } as ScanRecord, "quarantined", "error");
    const events = new EventEmitter();
    const waiting = waitForVerdict(events, releasing.store, "job-6", 5000);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(events.listenerCount("scan_result"), 1, "still waiting for the release");
    events.emit("scan_result", { jobId: "job-6", result: verdict("clean") });
    assert.equal((await waiting)?.status, "clean");

    const held = repo({ fileId: "file-7", status: "clean", results: verdict("clean") } as ScanRecord, "quarantined", "infected");
    assert.equal((await waitForVerdict(events, held.store, "job-7", 5000))?.status, "clean");
    assert.equal(events.listenerCount("scan_result"), 0);
  });

  it("a move that does not finish in time: the stored verdict is the answer at the deadline", async () => {
    const { store } = repo({ fileId: "file-5", results: verdict("suspicious") } as ScanRecord, "quarantining");
    const events = new EventEmitter();
    assert.equal((await waitForVerdict(events, store, "job-5", 50))?.status, "suspicious");
    assert.equal(events.listenerCount("scan_result"), 0);
  });
});
