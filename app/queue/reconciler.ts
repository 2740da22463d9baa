import type { Logger } from "../log.ts";
import type { Quarantine } from "../quarantine/quarantine.ts";
import type { Store } from "../store/store.ts";
import type { ScanQueue } from "./scan-queue.ts";
import { jobData, type ScanWorker } from "./scan-worker.ts";

/**
 * A job is written to the store first and added to Bull a moment later; one younger than this
 * that Bull does not hold yet is still on its way there, not lost. Queued again by this pass it
 * would lose its delay (a VirusTotal follow-up would run at once).
 */
export const IN_FLIGHT_MS = 10_000;

export interface ReconcileReport {
  /** Open jobs that Redis had lost, queued again under the same id. */
  readonly requeued: number;
  /** Jobs Bull had given up on whose final error result was missing. */
  readonly failed: number;
  /** Interrupted quarantine moves finished. */
  readonly quarantined: number;
}

/**
 * The store is the record of what was accepted; Redis only of what is queued. At start and then
 * periodically, every job that the store holds open is checked against Bull: lost ones are
 * queued again, dead ones get their final error result, and moves into quarantine that a
 * crash interrupted are finished. In a deployment of several hosts one pass runs at a time,
 * on whichever host gets to it first; the others skip theirs.
 */
export class Reconciler {
  constructor(
    private readonly store: Store,
    private readonly queue: ScanQueue,
    private readonly worker: ScanWorker,
    private readonly quarantine: Quarantine,
    private readonly log: Logger,
  ) {}

  async run(now = new Date()): Promise<ReconcileReport> {
    return (await this.store.db.exclusively("reconcile", () => this.pass(now.getTime()))) ?? { requeued: 0, failed: 0, quarantined: 0 };
  }

  /**
   * Each job and each file is settled on its own: one that fails (a move the disk refuses) is
   * logged and tried again next pass, and never keeps the others, or a worker's start, waiting.
   */
  private async pass(now: number): Promise<ReconcileReport> {
    let requeued = 0;
    let failed = 0;
    let quarantined = 0;
    let errors = 0;
    const settle = async (what: Record<string, string>, work: () => Promise<void>) => {
      try {
        await work();
      } catch (err) {
        errors++;
        this.log.error({ err, ...what }, "reconcile: could not settle; tried again next pass");
      }
    };
    for (const entry of await this.store.scans.openJobs()) {
      await settle({ jobId: entry.jobId, fileId: entry.fileId }, async () => {
        const file = await this.store.files.get(entry.fileId);
        if (!file) return;
        const job = await this.queue.getJob(entry.jobId);
        const state = job ? await job.getState() : "missing";
        if (state === "missing") {
          if (now - Date.parse(entry.createdAt) < IN_FLIGHT_MS) return;
          await this.queue.add(entry.jobId, jobData(entry, file));
          requeued++;
        } else if (state === "failed" || (state === "completed" && !(await this.store.scans.hasResult(entry.jobId)))) {
          await this.worker.recordFailure(entry.jobId, job?.failedReason ?? `the job ended ${state} without a result`);
          failed++;
        }
      });
    }
    for (const file of await this.store.files.listByState(["quarantining"])) {
      await settle({ fileId: file.id }, async () => {
        const latest = await this.store.scans.latestForFile(file.id);
        if (!latest || latest.status === "clean") return;
        await this.quarantine.admit(file, latest.id, latest);
        quarantined++;
      });
    }
    if (requeued + failed + quarantined + errors > 0) this.log.warn({ requeued, failed, quarantined, errors }, "reconciled");
    return { requeued, failed, quarantined };
  }
}
