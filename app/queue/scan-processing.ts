import type { Config } from "../config.ts";
import type { EventBus } from "../events/event-bus.ts";
import type { LiveStats } from "../events/live-stats.ts";
import { StatsBroadcast } from "../events/stats-broadcast.ts";
import { QUEUE_COMPONENT, type Logger } from "../log.ts";
import type { Quarantine } from "../quarantine/quarantine.ts";
import { createScanEngine, type ScanEngine } from "../scan-engine.ts";
import type { FileRecord } from "../store/file-repo.ts";
import type { RedisConnection } from "../store/redis-connection.ts";
import type { Store } from "../store/store.ts";
import type { ScanResult } from "../verdict/scan-result.ts";
import type { Tier } from "../verdict/tiers.ts";
import { Reconciler } from "./reconciler.ts";
import type { ScanQueue } from "./scan-queue.ts";
import type { ScanJobData } from "../store/scan-repo.ts";
import { ScanWorker } from "./scan-worker.ts";

export interface ScanProcessing {
  readonly engine: ScanEngine;
  readonly worker: ScanWorker;
  readonly reconciler: Reconciler;
}

export interface ScanProcessingParts {
  readonly store: Store;
  readonly redis: RedisConnection;
  /** Redis key prefix of this queue. */
  readonly prefix: string;
  readonly bus: EventBus;
  readonly stats: LiveStats;
  readonly queue: ScanQueue;
  readonly quarantine: Quarantine;
  /** Queues a later scan of a file VirusTotal could not answer for (the intake's submissions do). */
  readonly followUp: (file: FileRecord, data: ScanJobData, delayMs: number, max: number) => Promise<void>;
  readonly log: Logger;
  /** Where a quarantined file is decrypted to be scanned again. */
  readonly rescanDir: string;
  readonly onVerdict?: (result: ScanResult, tier: Tier) => void;
  /** Each stored file clamd was not allowed to read by path (metrics). */
  readonly onPathRefused?: () => void;
  /** Registers an undo step, run in reverse order when the process closes. */
  readonly onClose: (undo: () => Promise<void>) => void;
  /** Runs `task` every `ms` until the process closes. */
  readonly every: (ms: number, task: () => Promise<unknown>, what: string) => void;
}

/**
 * A scan worker's side of the process: the engines, Bull's worker, the record of jobs Bull gave
 * up on, and the reconciler (once at start, before any job is taken, then periodically).
 */
export async function startScanProcessing(config: Config, p: ScanProcessingParts): Promise<ScanProcessing> {
  const { store, queue, quarantine, log } = p;
  const engine = await createScanEngine(config, { redis: p.redis, prefix: p.prefix }, { log, onPathRefused: p.onPathRefused });
  p.onClose(() => engine.close());
  const vt = config.virustotal;
  const followUp = vt ? (file: FileRecord, data: ScanJobData) => p.followUp(file, data, vt.followUpDelayMs, vt.maxFollowUps) : undefined;
  const queueLog = log.child(QUEUE_COMPONENT);
  const broadcast = new StatsBroadcast(p.stats, p.bus, queueLog);
  p.onClose(async () => broadcast.close());
  const worker = new ScanWorker({ store, pipeline: engine.pipeline, quarantine, bus: p.bus, stats: broadcast, log: queueLog, tmpDir: p.rescanDir, onVerdict: p.onVerdict, followUp });
  const reconciler = new Reconciler(store, queue, worker, quarantine, log);
  queue.onFailed((job, err) => {
    void (async () => {
      if ((await job.getState()) !== "failed") return;
      await worker.recordFailure(String(job.id), err.message);
      queueLog.error({ jobId: job.id, fileId: job.data.fileId, attempts: job.attemptsMade, error: err.message }, "job failed");
    })().catch((e: unknown) => queueLog.error({ err: e, jobId: job.id }, "could not record a failed job; the reconciler will"));
  });
  await reconciler.run();
  queue.process(config.queue.concurrency, (job) => worker.process(job), log);
  p.every(config.queue.reconcileIntervalMs, () => reconciler.run(), "reconcile");
  return { engine, worker, reconciler };
}
