import type { ScanRecord, ScanRepo } from "../store/scan-repo.ts";
import type { ScanResult } from "../verdict/scan-result.ts";

type ResultListener = (event: { readonly jobId: string; readonly result: ScanResult }) => void;

/** Where verdict events arrive: the daemon, which relays them from every worker through Redis. */
export interface ResultEvents {
  on(event: "scan_result", listener: ResultListener): unknown;
  off(event: "scan_result", listener: ResultListener): unknown;
}

/** The job's recorded scan as soon as it is announced, or undefined once `timeoutMs` has passed. */
export function waitForResult(events: ResultEvents, scans: Pick<ScanRepo, "resultForJob">, jobId: string, timeoutMs: number): Promise<ScanRecord | undefined> {
  const read = () => scans.resultForJob(jobId);
  return awaitAnnounced(events, jobId, timeoutMs, read, read);
}

/**
 * An upload's `?wait`: the job's verdict, or undefined once `timeoutMs` has passed. A worker
 * announces a verdict only after committing it, and only the one it committed, so the
 * announcement is the stored verdict and is not read back.
 */
export function waitForVerdict(events: ResultEvents, scans: Pick<ScanRepo, "resultForJob">, jobId: string, timeoutMs: number): Promise<ScanResult | undefined> {
  return awaitAnnounced(events, jobId, timeoutMs, async () => (await scans.resultForJob(jobId))?.results, async (announced) => announced);
}

/** Listens first and reads second, so a verdict recorded in between is not missed. */
async function awaitAnnounced<T>(events: ResultEvents, jobId: string, timeoutMs: number, stored: () => Promise<T | undefined>, onAnnounced: (result: ScanResult) => Promise<T | undefined>): Promise<T | undefined> {
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
    const found = await stored();
    if (found !== undefined) return found;
    const result = await announced;
    return result && (await onAnnounced(result));
  } finally {
    stop();
  }
}
