import type { ScanRecord, ScanRepo } from "../store/scan-repo.ts";
import type { ScanResult } from "../verdict/scan-result.ts";

type ResultListener = (event: { readonly jobId: string; readonly result: ScanResult }) => void;

/** Where verdict events arrive: the daemon, which relays them from every worker through Redis. */
export interface ResultEvents {
  on(event: "scan_result", listener: ResultListener): unknown;
  off(event: "scan_result", listener: ResultListener): unknown;
}

/**
 * An upload's `?wait`: the job's verdict, or undefined once `timeoutMs` has passed. It listens
 * first and reads second, so a verdict recorded in between is not missed. A worker announces a
 * verdict only after committing it, and only the one it committed, so the announcement is the
 * stored verdict and is not read back.
 */
export async function waitForVerdict(events: ResultEvents, scans: Pick<ScanRepo, "resultForJob">, jobId: string, timeoutMs: number): Promise<ScanResult | undefined> {
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
    return (await scans.resultForJob(jobId))?.results ?? (await announced);
  } finally {
    stop();
  }
}

/** The job's whole recorded scan once its verdict is recorded, or undefined once `timeoutMs` has passed. */
export async function waitForResult(events: ResultEvents, scans: Pick<ScanRepo, "resultForJob">, jobId: string, timeoutMs: number): Promise<ScanRecord | undefined> {
  return (await waitForVerdict(events, scans, jobId, timeoutMs)) ? scans.resultForJob(jobId) : undefined;
}
