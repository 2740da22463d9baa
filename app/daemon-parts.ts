import path from "node:path";
import { ApiKeys } from "./auth/api-keys.ts";
import { AuthFailures } from "./auth/auth-failures.ts";
import type { Config } from "./config.ts";
import type { ClamdClient } from "./engines/clamav/clamd-client.ts";
import { EventBus, type ScanEvent } from "./events/event-bus.ts";
import { LiveStats } from "./events/live-stats.ts";
import { DailyCounter } from "./intake/daily-counter.ts";
import { FileHasher } from "./intake/file-hasher.ts";
import { FileStorage } from "./intake/file-storage.ts";
import { Submissions } from "./intake/submissions.ts";
import type { Logger } from "./log.ts";
import { Quarantine } from "./quarantine/quarantine.ts";
import { QuarantineVault } from "./quarantine/quarantine-vault.ts";
import { applyRetention } from "./quarantine/retention.ts";
import { claimQueue } from "./queue/queue-owner.ts";
import { startScanProcessing, type ScanProcessing } from "./queue/scan-processing.ts";
import { ScanQueue } from "./queue/scan-queue.ts";
import { clamdClientFor } from "./scan-engine.ts";
import { sweepScratch } from "./scan/scratch.ts";
import { connectRedis, type RedisConnection } from "./store/redis-connection.ts";
import { openStore, storeSettings, type Store } from "./store/store.ts";
import type { ScanResult } from "./verdict/scan-result.ts";
import type { Tier } from "./verdict/tiers.ts";

export interface PartsOptions {
  /** Run scans in this process (default). False for processes that only accept and report. */
  readonly worker?: boolean;
  /** Receive every worker's events here (default). False for a process that only sends them: its own `scan_*` and `stats` never fire. */
  readonly events?: boolean;
  /** Called once for each verdict this process records (metrics). */
  readonly onVerdict?: (result: ScanResult, tier: Tier) => void;
  /** Called for each stored file clamd was not allowed to read by path, so it was streamed (metrics). */
  readonly onPathRefused?: () => void;
}

/** Every part of a process of the service; a worker's scan processing only where it scans. */
export type DaemonParts = Partial<ScanProcessing> & {
  readonly store: Store;
  readonly storage: FileStorage;
  readonly redis: RedisConnection;
  readonly daily: DailyCounter;
  readonly stats: LiveStats;
  readonly queue: ScanQueue;
  readonly quarantine: Quarantine;
  readonly submissions: Submissions;
  readonly keys: ApiKeys;
  readonly clamd: ClamdClient;
  readonly hasher: FileHasher;
  /** Purges files and quarantine entries past their retention. */
  readonly retention: (now?: Date) => Promise<{ purged: number; expired: number }>;
};

export interface PartsHooks {
  /** Each event from Redis: every worker's `scan_progress`, `scan_result` and `stats`. */
  readonly onEvent: (event: ScanEvent) => void;
  /** Registers an undo step, run in reverse order when the process closes (also after a failed build). */
  readonly onClose: (undo: () => Promise<void>) => void;
}

const HOUR = 3_600_000;
/** Scratch folders of other hosts' processes are left this long before they count as abandoned. */
const SCRATCH_MAX_AGE_MS = 24 * HOUR;

/** The daemon's composition root: every part from one validated config, in order. */
export async function buildDaemonParts(config: Config, log: Logger, options: PartsOptions, hooks: PartsHooks): Promise<DaemonParts> {
  const { onClose } = hooks;
  const store = await openStore(storeSettings(config));
  onClose(() => store.close());
  await store.audit.markKeyed();
  const storage = new FileStorage(config.dataDir, config.databaseUrl ? config.hostId : undefined);
  await storage.init();
  const vault = new QuarantineVault(config.quarantine.dir, config.quarantine.encryptionKey);
  await vault.init();
  const quarantine = new Quarantine(store, vault, storage);
  const redis = await connectRedis(config.redis.url, log, "daemon");
  onClose(() => redis.close());
  const prefix = `msd:${config.queue.name}`;
  await claimQueue(redis, prefix, config.queue.name, store.deploymentId);
  const bus = await EventBus.create(redis, prefix, log, options.events ?? true);
  onClose(() => bus.close());
  bus.on(hooks.onEvent);
  const stats = new LiveStats(redis, prefix);
  const queue = new ScanQueue(config.redis.url, config.queue, log);
  // Bull's close waits for the scans running in this process to finish.
  onClose(() => queue.close());
  const daily = new DailyCounter(redis, prefix);
  const submissions = new Submissions(store, storage, queue, daily, log, config.tiers);
  const failures = new AuthFailures(store);
  const flushFailures = () => failures.flush().catch((err: unknown) => log.error({ err }, "failed authentications not audited"));
  const flushTimer = setInterval(() => void flushFailures(), config.authFailureFlushMs);
  flushTimer.unref();
  onClose(async () => {
    clearInterval(flushTimer);
    await flushFailures();
  });
  const hasher = new FileHasher();
  onClose(() => hasher.close());
  const retention = (now = new Date()) => applyRetention({ store, storage, quarantine, log }, { quarantineDays: config.quarantine.retentionDays, fileDays: config.fileRetentionDays }, now);
  const clamd = clamdClientFor(config);
  onClose(async () => clamd.close());
  const parts = { store, storage, redis, daily, stats, queue, quarantine, submissions, keys: new ApiKeys(store, failures), clamd, hasher, retention };
  const rescanDir = path.join(config.tmpDir, "rescans");
  // Upload and scan folders left by processes that were killed (their finally never ran).
  const sweep = async () => {
    const dirs = [storage.incomingDir, config.tmpDir, rescanDir];
    const removed = (await Promise.all(dirs.map((d) => sweepScratch(d, SCRATCH_MAX_AGE_MS)))).reduce((a, b) => a + b, 0);
    if (removed > 0) log.info({ removed }, "removed temporary folders left by stopped processes");
  };
  await sweep();
  if (options.worker === false) return parts;

  const every = (ms: number, task: () => Promise<unknown>, what: string) => {
    const timer = setInterval(() => void task().catch((err: unknown) => log.error({ err }, `${what} failed`)), ms);
    timer.unref();
    onClose(async () => clearInterval(timer));
  };
  const processing = await startScanProcessing(config, {
    store,
    redis,
    prefix,
    bus,
    stats,
    queue,
    quarantine,
    followUp: (file, data, delayMs, max) => submissions.followUp(file, data, delayMs, max),
    log,
    rescanDir,
    onVerdict: options.onVerdict,
    onPathRefused: options.onPathRefused,
    onClose,
    every,
  });
  every(HOUR, retention, "retention");
  every(HOUR, sweep, "scratch sweep");
  return { ...parts, ...processing };
}
