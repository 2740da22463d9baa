import { EventEmitter } from "node:events";
import type { Config } from "./config.ts";
import { NotFoundError } from "./errors/not-found-error.ts";
import type { ScanEvent } from "./events/event-bus.ts";
import type { ApiKeys } from "./auth/api-keys.ts";
import { openDownload, type Download } from "./intake/downloads.ts";
import { checkReadiness, probeClamd, type ClamdStatus, type Readiness, type ScanWorkerSummary } from "./health/readiness.ts";
import { createLogger, type Logger } from "./log.ts";
import type { ReconcileReport } from "./queue/reconciler.ts";
import type { FailedJob, QueueCounts, ScanQueue } from "./queue/scan-queue.ts";
import type { Quarantine } from "./quarantine/quarantine.ts";
import type { DailyUse } from "./intake/daily-counter.ts";
import type { StatsSnapshot } from "./events/live-stats.ts";
import type { StoredFile } from "./intake/file-storage.ts";
import { buildDaemonParts, type DaemonParts, type PartsOptions } from "./daemon-parts.ts";
import type { AuditEntry } from "./store/audit-repo.ts";
import type { FileRecord } from "./store/file-repo.ts";
import type { ScanRecord } from "./store/scan-repo.ts";
import type { ScanResult } from "./verdict/scan-result.ts";
import { waitForResult, waitForVerdict } from "./intake/result-waiter.ts";
import type { SubmitFileInput, Submitted } from "./intake/submissions.ts";
import type { Tier, TierLimits } from "./verdict/tiers.ts";

export interface DaemonOptions extends PartsOptions {
  readonly log?: Logger;
  /** The scan workers of other processes (their reports), for readiness. */
  readonly workers?: () => Promise<readonly ScanWorkerSummary[]>;
}

type DaemonEvents = { [K in ScanEvent["type"]]: [Extract<ScanEvent, { type: K }>] };

/**
 * The seed's programmatic API over the parts daemon-parts.ts builds from one validated
 * config, in order; closes them in reverse. Events (`scan_progress`,
 * `scan_result`, `stats`) arrive through Redis, so they come from every worker process.
 */
export class MedicalFileScanDaemon extends EventEmitter<DaemonEvents> {
  readonly log: Logger;
  private parts?: DaemonParts;
  /** Undo steps of what initialize() built, run in reverse by close(), also after a failed start. */
  private readonly closers: (() => Promise<void>)[] = [];

  constructor(
    readonly config: Config,
    private readonly options: DaemonOptions = {},
  ) {
    super();
    // Each `?wait` request listens for its result while it waits: hundreds at once are normal.
    this.setMaxListeners(0);
    this.log = options.log ?? createLogger();
  }

  async initialize(): Promise<void> {
    try {
      this.parts = await buildDaemonParts(this.config, this.log, this.options, {
        onEvent: (event) => this.emit(event.type, event as never),
        onClose: (undo) => this.closers.push(undo),
      });
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  submitFile(input: SubmitFileInput): Promise<Submitted> {
    return this.use().submissions.submitFile(input);
  }

  /** A file already received into `incomingDir` (an HTTP upload); removed there whatever happens. */
  submitUpload(input: Omit<SubmitFileInput, "filePath">, received: StoredFile): Promise<Submitted> {
    return this.use().submissions.submitReceived(input, received);
  }

  /** Size and SHA-256 of a received upload, computed in the hash thread. */
  hashUpload(file: string): Promise<{ size: number; sha256: string }> {
    return this.use().hasher.hash(file);
  }

  /** Where uploads are streamed before they are accepted: on DATA_DIR's filesystem, so accepting is a rename. */
  get incomingDir(): string {
    return this.use().storage.incomingDir;
  }

  /** Today's count for a user, without counting anything. */
  dailyUse(userId: string, tier: Tier): Promise<DailyUse> {
    return this.use().daily.peek(userId, this.limitsFor(tier).filesPerDay);
  }

  /** The tier's size and daily limits, as configured. */
  limitsFor(tier: Tier): TierLimits {
    return this.config.tiers[tier];
  }

  get keys(): ApiKeys {
    return this.use().keys;
  }

  /** Another scan with the current engines; `userId` limits it to the owner's files and counts it against their day. */
  async rescan(fileId: string, by: { userId?: string; tier?: Tier } = {}): Promise<Submitted> {
    const file = await this.getFile(fileId, by.userId);
    return this.use().submissions.rescan(file, { actor: by.userId ?? "admin", tier: by.tier, tenant: by.userId });
  }

  /** A file's record; with `userId`, only that user's file (another's is not found). */
  async getFile(fileId: string, userId?: string): Promise<FileRecord> {
    const { files } = this.use().store;
    const file = userId === undefined ? await files.get(fileId) : await files.forOwner(userId, fileId);
    if (!file) throw new NotFoundError("FILE_NOT_FOUND", `no file ${fileId}`);
    return file;
  }

  /** A user's files, newest first, with each one's latest verdict (a page of `limit`, after the cursor's file). */
  listFiles(userId: string, limit: number, after?: { createdAt: string; id: string }) {
    return this.use().store.files.listForOwner(userId, limit, after);
  }

  async getScans(fileId: string, userId?: string): Promise<ScanRecord[]> {
    const file = await this.getFile(fileId, userId);
    return this.use().store.scans.scansForFile(file.id);
  }

  async latestScan(fileId: string): Promise<ScanRecord | undefined> {
    return this.use().store.scans.latestForFile(fileId);
  }

  /** The owner's clean file, opened for reading; the download is audited. */
  async download(fileId: string, userId: string): Promise<Download> {
    return openDownload(this.use().store, await this.getFile(fileId, userId), userId, { virusTotalRequired: this.config.virusTotalRequired });
  }

  /** An audit entry for something outside the service's own transactions. */
  audit(entry: AuditEntry): Promise<void> {
    return this.use().store.audit.record(entry);
  }

  /** The job's result once recorded and its file settled (quarantined when not clean), or undefined after `timeoutMs`. */
  waitForResult(jobId: string, timeoutMs: number): Promise<ScanRecord | undefined> {
    return waitForResult(this, this.use().store, jobId, timeoutMs);
  }

  /** The job's verdict once recorded and its file settled (as announced, not read back), or undefined after `timeoutMs`. */
  waitForVerdict(jobId: string, timeoutMs: number): Promise<ScanResult | undefined> {
    return waitForVerdict(this, this.use().store, jobId, timeoutMs);
  }

  queueCounts(): Promise<QueueCounts> {
    return this.use().queue.counts();
  }

  failedJobs(): Promise<FailedJob[]> {
    return this.use().queue.failedJobs();
  }

  /** Re-drives a dead-letter job: a new job for its file; the failed one is removed. */
  async redrive(jobId: string, actor = "admin"): Promise<Submitted> {
    const { queue, submissions } = this.use();
    const job = await queue.getJob(jobId);
    if (!job || (await job.getState()) !== "failed") throw new NotFoundError("JOB_NOT_FOUND", `no failed job ${jobId}`);
    const file = await this.getFile(job.data.fileId);
    const submitted = await submissions.redrive(file, job.data.scanType, job.data.tier, actor);
    await job.remove();
    return submitted;
  }

  get quarantine(): Quarantine {
    return this.use().quarantine;
  }

  stats(): Promise<StatsSnapshot> {
    return this.use().stats.snapshot();
  }

  /** The queue as bull-board shows it, read-only, for the admin queue UI. */
  queueBoardAdapter(): ReturnType<ScanQueue["boardAdapter"]> {
    return this.use().queue.boardAdapter();
  }

  readiness(): Promise<Readiness> {
    const { redis, clamd, store, queue } = this.use();
    const { dataDir, health } = this.config;
    const own = this.workerSummary();
    const workers = async () => [...(own ? [own] : []), ...((await this.options.workers?.()) ?? [])];
    return checkReadiness({ redisPing: () => redis.ping(), clamd, workers, db: store.db, dataDir, queueCounts: () => queue.counts(), definitionsDir: this.config.clamav.dbDir, officialDatabases: this.config.clamav.officialDatabases, ...health });
  }

  /** This process's own scan engine, as readiness and the intake see a worker; undefined where nothing scans. */
  workerSummary(): ScanWorkerSummary | undefined {
    const engine = this.parts?.engine;
    if (!engine) return undefined;
    return { rulesHash: engine.rules.builtIn.hash, tenantRuleSets: engine.rules.tenants.size, virustotalState: engine.virustotal?.state };
  }

  clamdStatus(): Promise<ClamdStatus> {
    return probeClamd(this.use().clamd);
  }

  reconcile(now?: Date): Promise<ReconcileReport> {
    const { reconciler } = this.use();
    if (!reconciler) throw new Error("reconcile runs in a worker process");
    return reconciler.run(now);
  }

  applyRetention(now = new Date()): Promise<{ purged: number; expired: number }> {
    return this.use().retention(now);
  }

  /** Waits for running scans to finish, then closes the queue, Redis and SQLite. */
  async close(): Promise<void> {
    this.parts = undefined;
    for (const undo of this.closers.splice(0).reverse()) {
      await undo().catch((err: unknown) => this.log.warn({ err }, "close step failed"));
    }
  }

  private use(): DaemonParts {
    if (!this.parts) throw new Error("MedicalFileScanDaemon: call initialize() first");
    return this.parts;
  }
}
