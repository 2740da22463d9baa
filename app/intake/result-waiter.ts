import type { ScanRecord, ScanRepo } from "../store/scan-repo.ts";

type ResultListener = (event: { readonly jobId: string }) => void;

/** Where verdict events arrive: the daemon, which relays them from every worker through Redis. */
export interface ResultEvents {
  on(event: "scan_result", listener: ResultListener): unknown;
  off(event: "scan_result", listener: ResultListener): unknown;
}

/**
 * An upload's `?wait`: the job's recorded verdict as soon as it is announced, or undefined
 * once `timeoutMs` has passed. It listens first and reads second, so a verdict recorded in
 * between is not missed.
 */
export async function waitForResult(events: ResultEvents, scans: Pick<ScanRepo, "resultForJob">, jobId: string, timeoutMs: number): Promise<ScanRecord | undefined> {
  let stop = () => {};
  const announced = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    const listener: ResultListener = (e) => e.jobId === jobId && resolve();
    events.on("scan_result", listener);
    stop = () => {
      clearTimeout(timer);
      events.off("scan_result", listener);
    };
  });
  try {
    const stored = await scans.resultForJob(jobId);
    if (stored) return stored;
    await announced;
    return await scans.resultForJob(jobId);
  } finally {
    stop();
  }
}
