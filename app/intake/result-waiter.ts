import type { FileRepo } from "../store/file-repo.ts";
import type { QuarantineRepo } from "../store/quarantine-repo.ts";
import type { ScanRecord, ScanRepo } from "../store/scan-repo.ts";
import type { ScanResult } from "../verdict/scan-result.ts";

type ResultListener = (event: { readonly jobId: string; readonly result: ScanResult }) => void;

/** Where verdict events arrive: the daemon, which relays them from every worker through Redis. */
export interface ResultEvents {
  on(event: "scan_result", listener: ResultListener): unknown;
  off(event: "scan_result", listener: ResultListener): unknown;
}

export interface ResultStore {
  readonly scans: Pick<ScanRepo, "resultForJob">;
  readonly files: Pick<FileRepo, "get">;
  readonly quarantine: Pick<QuarantineRepo, "heldForError">;
}

/**
 * An upload's `?wait`: the job's verdict once its file is settled, or undefined once `timeoutMs`
 * has passed. A worker commits a verdict, then moves the file (a file that is not clean into
 * quarantine, one held for an error out of it after a clean rescan), then announces the verdict
 * it committed; so the announcement is the stored verdict and is not read back. It listens first
 * and reads second, so a verdict recorded in between is not missed; a verdict read before its
 * file's move waits for the announcement, and is the answer at `timeoutMs` if the move does not
 * finish (the reconciler finishes it).
 */
export async function waitForVerdict(events: ResultEvents, store: ResultStore, jobId: string, timeoutMs: number): Promise<ScanResult | undefined> {
  let stop = () => {};
  const announced = new Promise<ScanResult | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), timeoutMs);
    const listener: ResultListener = (e) => {
      if (e.jobId === jobId) resolve(e.result);
    };
    events.on("scan_result", listener);
    stop = () => {
      clearTimeout(timer);
      events.off("scan_result", listener);
    };
  });
  try {
    const stored = await store.scans.resultForJob(jobId);
    if (stored && !(await awaitsMove(store, stored))) return stored.results;
    return (await announced) ?? stored?.results;
  } finally {
    stop();
  }
}

async function awaitsMove(store: ResultStore, scan: ScanRecord): Promise<boolean> {
  const state = (await store.files.get(scan.fileId))?.state;
  if (state === "quarantining") return true;
  return scan.status === "clean" && state === "quarantined" && (await store.quarantine.heldForError(scan.fileId)) !== undefined;
}

/** The job's whole recorded scan once its file is settled, or undefined once `timeoutMs` has passed. */
export async function waitForResult(events: ResultEvents, store: ResultStore, jobId: string, timeoutMs: number): Promise<ScanRecord | undefined> {
  return (await waitForVerdict(events, store, jobId, timeoutMs)) ? store.scans.resultForJob(jobId) : undefined;
}
