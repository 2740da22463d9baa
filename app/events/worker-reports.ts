import os from "node:os";
import { orQueueUnavailable, type RedisConnection } from "../store/redis-connection.ts";

/** One process's metrics as `Registry.getMetricsAsJSON()` gives them. */
export type MetricsSnapshot = readonly object[];

/** What a scan worker says of itself every few seconds. */
export interface WorkerReport {
  readonly at: number;
  /** The YARA rules it compiled: which rules its verdicts come from. */
  readonly rulesHash: string;
  readonly tenantRuleSets: number;
  readonly metrics: MetricsSnapshot;
}

/** A report older than this belongs to a worker that has stopped. */
const STALE_MS = 30_000;

/**
 * The scan workers' reports, through one Redis hash: each worker publishes its metrics and
 * rules every few seconds, so the intake's /metrics counts every worker's verdicts and its
 * readiness knows that some worker is alive to scan what it accepts.
 */
export class WorkerReports {
  private readonly key: string;

  constructor(
    private readonly redis: Pick<RedisConnection, "hSet" | "hGetAll" | "hDel">,
    prefix: string,
    private readonly id = `${os.hostname()}:${process.pid}`,
  ) {
    this.key = `${prefix}:workers`;
  }

  async publish(report: Omit<WorkerReport, "at">, now = Date.now()): Promise<void> {
    await this.redis.hSet(this.key, this.id, JSON.stringify({ ...report, at: now }));
  }

  async withdraw(): Promise<void> {
    await this.redis.hDel(this.key, this.id);
  }

  /** The other live workers' reports; stale ones are dropped. Redis away is a QueueUnavailableError. */
  async others(now = Date.now()): Promise<WorkerReport[]> {
    const live: WorkerReport[] = [];
    const stale: string[] = [];
    for (const [id, raw] of Object.entries(await orQueueUnavailable(this.redis.hGetAll(this.key)))) {
      if (id === this.id) continue;
      const report = JSON.parse(raw) as WorkerReport;
      if (now - report.at > STALE_MS) stale.push(id);
      else live.push(report);
    }
    if (stale.length > 0) await this.redis.hDel(this.key, stale);
    return live;
  }
}
