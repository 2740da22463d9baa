import { BullAdapter } from "@bull-board/api/bullAdapter";
import Bull from "bull";
import type { QueueSettings } from "../config.ts";
import { withDeadline } from "../deadline.ts";
import { orQueueUnavailable } from "../store/redis-connection.ts";
import type { Logger } from "../log.ts";
import type { ScanJobData, ScanType } from "../store/scan-repo.ts";
import { TIER_POLICIES, type Tier } from "../verdict/tiers.ts";

export type ScanJob = Bull.Job<ScanJobData>;

export type QueueCounts = {
  readonly waiting: number;
  readonly active: number;
  readonly completed: number;
  readonly failed: number;
  readonly delayed: number;
};

export interface FailedJob {
  readonly jobId: string;
  readonly fileId: string;
  readonly tier: Tier;
  readonly scanType: ScanType;
  readonly attemptsMade: number;
  readonly failedReason: string;
  readonly finishedAt: string | null;
}

/**
 * The one Bull queue. Priority comes from the tier table; engine errors are retried with
 * exponential backoff; failed jobs are kept (the dead letter list) until re-driven.
 */
export class ScanQueue {
  private readonly bull: Bull.Queue<ScanJobData>;

  constructor(
    redisUrl: string,
    private readonly settings: QueueSettings,
    log: Logger,
  ) {
    this.bull = new Bull<ScanJobData>(settings.name, redisUrl, {
      settings: {
        lockDuration: settings.lockDurationMs,
        stalledInterval: settings.stalledIntervalMs,
        maxStalledCount: settings.maxStalledCount,
      },
    });
    let lastLogged = 0;
    this.bull.on("error", (err: Error) => {
      if (Date.now() - lastLogged > 10_000) {
        lastLogged = Date.now();
        log.warn({ err: err.message }, "queue error");
      }
    });
  }

  /** Adding a job id that exists already is a no-op in Bull, so a retried add cannot duplicate. */
  async add(jobId: string, data: ScanJobData, delayMs = 0): Promise<void> {
    await this.bull.add(data, {
      jobId,
      delay: delayMs,
      priority: TIER_POLICIES[data.tier].priority,
      attempts: this.settings.attempts,
      backoff: { type: "exponential", delay: this.settings.retryDelayMs },
      timeout: this.settings.jobTimeoutMs,
      removeOnComplete: 1000,
      removeOnFail: false,
    });
  }

  /** Runs `handler` for each job, `concurrency` at a time, in this process. */
  process(concurrency: number, handler: (job: ScanJob) => Promise<string>, log: Logger): void {
    this.bull.process(concurrency, handler).catch((err: unknown) => log.error({ err }, "queue processing stopped"));
  }

  /** Told of every job that failed an attempt (Bull may still retry it: check its state). */
  onFailed(handler: (job: ScanJob, err: Error) => void): void {
    this.bull.on("failed", handler);
  }

  /** bull-board's adapter for this queue, read-only: its retry, clean and add would bypass the audit trail. */
  boardAdapter(): BullAdapter {
    return new BullAdapter(this.bull, { readOnlyMode: true });
  }

  getJob(jobId: string): Promise<ScanJob | null> {
    return this.bull.getJob(jobId);
  }

  /** QueueUnavailableError after `timeoutMs`: while Redis is away Bull queues the command instead of failing. */
  async counts(timeoutMs = 5000): Promise<QueueCounts> {
    const c = await orQueueUnavailable(withDeadline(this.bull.getJobCounts(), timeoutMs, "the queue"));
    return { waiting: c.waiting, active: c.active, completed: c.completed, failed: c.failed, delayed: c.delayed };
  }

  async failedJobs(limit = 1000): Promise<FailedJob[]> {
    const jobs = await this.bull.getFailed(0, limit - 1);
    return jobs.map((job) => ({
      jobId: String(job.id),
      fileId: job.data.fileId,
      tier: job.data.tier,
      scanType: job.data.scanType,
      attemptsMade: job.attemptsMade,
      failedReason: job.failedReason ?? "",
      finishedAt: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
    }));
  }

  close(): Promise<void> {
    return this.bull.close();
  }
}
