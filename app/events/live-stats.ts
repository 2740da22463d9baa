import type { ScanStatus } from "../verdict/scoring.ts";
import type { RedisConnection } from "../store/redis-connection.ts";

/** The `stats` message of docs/api.md. */
export interface StatsSnapshot {
  readonly totalScans: number;
  readonly cleanFiles: number;
  readonly suspiciousFiles: number;
  readonly infectedFiles: number;
  readonly errors: number;
  /** Milliseconds. */
  readonly averageScanTime: number;
}

const FIELD: Readonly<Record<ScanStatus, keyof StatsSnapshot>> = { clean: "cleanFiles", suspicious: "suspiciousFiles", infected: "infectedFiles", error: "errors" };

/** Totals over every final result, kept in one Redis hash so every process sees the same. */
export class LiveStats {
  private readonly key: string;

  constructor(
    private readonly redis: RedisConnection,
    prefix: string,
  ) {
    this.key = `${prefix}:stats`;
  }

  async record(status: ScanStatus, scanTimeMs: number): Promise<void> {
    await this.redis
      .multi()
      .hIncrBy(this.key, "totalScans", 1)
      .hIncrBy(this.key, FIELD[status], 1)
      .hIncrBy(this.key, "totalScanTimeMs", Math.max(0, Math.round(scanTimeMs)))
      .exec();
  }

  async snapshot(): Promise<StatsSnapshot> {
    return toSnapshot(await this.redis.hGetAll(this.key));
  }
}

function toSnapshot(h: Record<string, string>): StatsSnapshot {
  const n = (k: string) => Number(h[k] ?? 0);
  const total = n("totalScans");
  return {
    totalScans: total,
    cleanFiles: n("cleanFiles"),
    suspiciousFiles: n("suspiciousFiles"),
    infectedFiles: n("infectedFiles"),
    errors: n("errors"),
    averageScanTime: total > 0 ? Math.round(n("totalScanTimeMs") / total) : 0,
  };
}
