import type { MedicalFileScanDaemon } from "../daemon.ts";

/** Seconds until a job queued now is likely done: the jobs ahead of it, spread over the workers, at the average scan time. */
export type EstimateParts = Pick<MedicalFileScanDaemon, "queueCounts" | "stats" | "config">;

export async function estimateSeconds(daemon: EstimateParts): Promise<number> {
  const [counts, stats] = await Promise.all([daemon.queueCounts().catch(() => null), daemon.stats().catch(() => null)]);
  const ahead = counts ? counts.waiting + counts.active + counts.delayed : 0;
  const averageMs = Math.max(stats?.averageScanTime ?? 0, 1000);
  return Math.ceil(((Math.floor(ahead / daemon.config.queue.concurrency) + 1) * averageMs) / 1000);
}
