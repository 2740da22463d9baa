import { randomUUID } from "node:crypto";
import { rm } from "node:fs/promises";
import path from "node:path";
import { ScanIncompleteError } from "../errors/scan-incomplete-error.ts";
import type { EventBus, ScanEvent } from "../events/event-bus.ts";
import type { Logger } from "../log.ts";
import type { ScanPipeline } from "../scan/pipeline.ts";
import type { ScanResult } from "../verdict/scan-result.ts";
import type { Quarantine } from "../quarantine/quarantine.ts";
import type { StatsBroadcast } from "../events/stats-broadcast.ts";
import { scratchDir } from "../scan/scratch.ts";
import type { FileRecord } from "../store/file-repo.ts";
import { OPEN_JOB_STATUSES, type QueueEntry, type ScanJobData } from "../store/scan-repo.ts";
import type { Store } from "../store/store.ts";
import type { Tier } from "../verdict/tiers.ts";
import type { ScanJob } from "./scan-queue.ts";

export interface ScanWorkerDeps {
  readonly store: Store;
  readonly pipeline: ScanPipeline;
  readonly quarantine: Quarantine;
  readonly bus: EventBus;
  readonly stats: Pick<StatsBroadcast, "record">;
  readonly log: Logger;
  /** For plaintext copies of quarantined files being rescanned. */
  readonly tmpDir: string;
  /** Told of each verdict this worker recorded (metrics). */
  readonly onVerdict?: (result: ScanResult, tier: Tier) => void;
  /** Asks for a later scan when VirusTotal could not answer this one. */
  readonly followUp?: (file: FileRecord, data: ScanJobData) => Promise<void>;
}

/**
 * Runs one job: scan the file where it is now, then record exactly one verdict for the job.
 * Retryable engine errors go back to Bull while attempts remain; the last attempt records the
 * error as final. Only the process whose verdict row was written moves the file and sends
 * the result event, so a job that runs twice has one row and one event.
 */
export class ScanWorker {
  constructor(private readonly deps: ScanWorkerDeps) {}

  /**
   * The file, tier and scan type come from SQLite, never from Redis: whoever can write to Redis
   * must not turn a gold scan into a free one or a rescan into a cached one. A job SQLite does
   * not know is refused; one whose Redis data disagrees gets a final error verdict.
   */
  async process(job: ScanJob): Promise<string> {
    const jobId = String(job.id);
    const { store, log, pipeline } = this.deps;
    const entry = await store.scans.queueEntry(jobId);
    if (!entry) {
      log.warn({ jobId }, "job refused: SQLite has no such job");
      return "refused";
    }
    if (!OPEN_JOB_STATUSES.includes(entry.status)) return "already recorded";
    const file = await store.files.get(entry.fileId);
    if (!file) throw new Error(`job ${jobId} names a file that is not in the store`);
    const data = jobData(entry, file, job.data.followUps);
    const mismatch = (["fileId", "tier", "scanType"] as const).filter((k) => job.data[k] !== data[k]);
    if (mismatch.length > 0) {
      log.warn({ jobId, fileId: file.id, mismatch }, "job refused: its queued data disagrees with SQLite");
      await this.record(jobId, data, pipeline.failure(data.tier, data.sha256, "JOB_DATA_MISMATCH", `the queued job's ${mismatch.join(", ")} disagree with the store`));
      return "error";
    }
    // No write when a job starts: the job stays open in SQLite until its verdict, and a write
    // here would cost every upload a third trip through the write lock and fsync.
    const attempt = job.attemptsMade + 1;

    const progress = this.progressReporter(job, file);
    const result = await this.scan(job, data, file, progress.report);
    if (result.status === "error" && worthRetrying(result)) {
      const reason = errorSummary(result);
      if (attempt < (job.opts.attempts ?? 1)) {
        await store.scans.markRetrying(jobId, attempt, reason, new Date().toISOString());
        throw new ScanIncompleteError(reason);
      }
      await this.record(jobId, data, result, progress.finished());
      throw new ScanIncompleteError(`${reason} (after ${attempt} attempts)`);
    }
    await this.record(jobId, data, result, progress.finished());
    return result.status;
  }

  /** A job Bull gave up on (stalled past its limit, timed out, threw on its last attempt); nothing for a job SQLite does not know. */
  async recordFailure(jobId: string, reason: string): Promise<void> {
    const entry = await this.deps.store.scans.queueEntry(jobId);
    const file = entry && (await this.deps.store.files.get(entry.fileId));
    if (!entry || !file) return;
    const data = jobData(entry, file);
    await this.record(jobId, data, this.deps.pipeline.failure(data.tier, data.sha256, "JOB_FAILED", reason));
  }

  /**
   * Writes the verdict once, then moves the file if it is not clean and tells every process
   * (after the scan's 100 % progress event, when there is one).
   */
  async record(jobId: string, data: ScanJobData, result: ScanResult, finished?: ProgressEvent): Promise<void> {
    const { store, quarantine, log } = this.deps;
    const scanId = randomUUID();
    const now = new Date().toISOString();
    const clean = result.status === "clean";
    const file = await store.db.transaction(async (tx) => {
      const current = await store.files.get(data.fileId, tx);
      if (!current) return null;
      const inserted = await store.scans.insertResult(tx, {
        id: scanId,
        jobId,
        fileId: data.fileId,
        filePath: current.storedPath ?? data.storedPath,
        scanType: data.scanType,
        tier: data.tier,
        result,
        now,
      });
      if (!inserted) return null;
      if (clean) await store.files.transition(tx, data.fileId, ["queued"], { state: "stored", detectedType: result.fileType }, now);
      else await store.files.transition(tx, data.fileId, ["queued", "stored", "released"], { state: "quarantining", detectedType: result.fileType }, now);
      await store.audit.append(tx, { actor: "system", action: "verdict", fileId: data.fileId, sha256: data.sha256, detail: { jobId, scanId, status: result.status, threatLevel: result.threatLevel } }, now);
      return store.files.get(data.fileId, tx);
    });
    if (!file) return;
    log.info({ jobId, fileId: file.id, sha256: file.sha256, status: result.status, ms: result.scanTimeMs }, "verdict");
    this.deps.onVerdict?.(result, data.tier);
    try {
      if (file.state === "quarantining") await quarantine.admit(file, scanId, result);
      else if (clean && file.state === "quarantined") await quarantine.releaseAfterCleanRescan(file.id);
    } catch (err) {
      // The verdict is stored and not clean, so the file is not reachable as clean; the
      // reconciler finishes the move.
      log.error({ err, jobId, fileId: file.id }, "quarantine move failed");
    }
    await this.announce(jobId, file, result, finished);
    if (result.engines.virustotal?.error?.retryable && this.deps.followUp) {
      await this.deps.followUp(file, data).catch((err: unknown) => log.warn({ err, jobId }, "VirusTotal follow-up not queued"));
    }
  }

  private async scan(job: ScanJob, data: ScanJobData, file: FileRecord, progress: (percent: number) => void): Promise<ScanResult> {
    const { pipeline, tmpDir } = this.deps;
    const request = { tier: data.tier, declaredName: file.originalName, declaredType: file.declaredType ?? undefined, expectedSha256: file.sha256, tenantId: file.ownerId, bypassCache: data.scanType === "rescan" };
    // An upload's first scan comes seconds after intake hashed the bytes as they arrived:
    // validation takes that hash instead of reading the file again. Later scans hash anew.
    const digest = data.scanType === "upload" ? { digest: { size: file.size, sha256: file.sha256 } } : {};
    if (file.storedPath) return pipeline.scan({ ...request, ...digest, path: file.storedPath }, progress);
    if (file.state !== "quarantined") return pipeline.failure(data.tier, file.sha256, "FILE_GONE", `the file is ${file.state}; nothing left to scan`);
    const dir = await scratchDir(tmpDir, "rescan");
    try {
      const copy = path.join(dir, "file");
      if (!(await this.deps.quarantine.extractForScan(file.id, copy))) return pipeline.failure(data.tier, file.sha256, "FILE_GONE", "the quarantine entry is gone or does not hold the bytes quarantined");
      return await pipeline.scan({ ...request, path: copy }, progress);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /**
   * Progress is for people watching a long scan, not a log: nothing in a scan's first second
   * (most scans are over by then), then at most one event a second and every 10 %. Each
   * intermediate event costs two Redis writes (Bull's job and the event bus). The 100 % is kept
   * for the verdict's announcement, which sends it first, in the same write to Redis.
   */
  private progressReporter(job: ScanJob, file: FileRecord): { report: (percent: number) => void; finished: () => ProgressEvent | undefined } {
    const started = performance.now();
    let sentPercent = -10;
    let sentAt = started;
    let finished: ProgressEvent | undefined;
    const event = (progress: number): ProgressEvent => ({ type: "scan_progress", jobId: String(job.id), fileId: file.clientId, userId: file.ownerId, progress });
    const report = (percent: number) => {
      if (percent >= 100) {
        finished = event(100);
        return;
      }
      const now = performance.now();
      if (percent - sentPercent < 10 || now - sentAt < PROGRESS_INTERVAL_MS) return;
      sentPercent = percent;
      sentAt = now;
      Promise.all([job.progress(percent), this.deps.bus.publish(event(percent))]).catch((err: unknown) => this.deps.log.debug({ err, jobId: job.id }, "progress not sent"));
    };
    return { report, finished: () => finished };
  }

  private async announce(jobId: string, file: FileRecord, result: ScanResult, finished?: ProgressEvent): Promise<void> {
    const { bus, stats, log } = this.deps;
    try {
      // Asked for in one turn, so node-redis sends them in one write, in this order.
      await Promise.all([
        ...(finished ? [bus.publish(finished)] : []),
        bus.publish({ type: "scan_result", jobId, fileId: file.clientId, userId: file.ownerId, fileName: file.originalName, result }),
        stats.record(result.status, result.scanTimeMs),
      ]);
    } catch (err) {
      log.warn({ err, jobId }, "result event not sent; the verdict is stored");
    }
  }
}

/** A job's data as SQLite records it: what the worker runs and what the reconciler queues again. */
export function jobData(entry: QueueEntry, file: FileRecord, followUps?: number): ScanJobData {
  return { fileId: file.id, storedPath: file.storedPath ?? "", sha256: file.sha256, tier: entry.tier, userId: file.ownerId, scanType: entry.scanType, ...(followUps === undefined ? {} : { followUps }) };
}

type ProgressEvent = Extract<ScanEvent, { type: "scan_progress" }>;

/** Between two progress events of one scan, and before its first. */
const PROGRESS_INTERVAL_MS = 1000;

/** Retrying helps only when every engine that failed may succeed later (clamd down, a timeout). */
function worthRetrying(result: ScanResult): boolean {
  const errors = Object.values(result.engines).flatMap((run) => (run.error ? [run.error] : []));
  return errors.length > 0 && errors.every((e) => e.retryable);
}

function errorSummary(result: ScanResult): string {
  return Object.entries(result.engines)
    .flatMap(([name, run]) => (run.error ? [`${name}: ${run.error.code}`] : []))
    .join("; ");
}
