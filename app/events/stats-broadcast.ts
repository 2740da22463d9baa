import type { Logger } from "../log.ts";
import type { ScanStatus } from "../verdict/scoring.ts";
import type { EventBus } from "./event-bus.ts";
import type { LiveStats } from "./live-stats.ts";

/** The most often admins' `stats` messages go out: a busy gate sends one a second, not one a file. */
const STATS_INTERVAL_MS = 1000;

/**
 * Counts every verdict in the shared totals at once, and sends the `stats` snapshot at most
 * once per interval: at once after a quiet interval, else at its end, with every verdict in it.
 */
export class StatsBroadcast {
  private lastSentAt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly stats: Pick<LiveStats, "record" | "snapshot">,
    private readonly bus: Pick<EventBus, "publish">,
    private readonly log: Logger,
    private readonly intervalMs = STATS_INTERVAL_MS,
  ) {}

  async record(status: ScanStatus, scanTimeMs: number): Promise<void> {
    await this.stats.record(status, scanTimeMs);
    if (this.timer) return;
    this.timer = setTimeout(() => void this.send(), Math.max(0, this.lastSentAt + this.intervalMs - Date.now()));
    this.timer.unref();
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async send(): Promise<void> {
    this.timer = undefined;
    this.lastSentAt = Date.now();
    try {
      await this.bus.publish({ type: "stats", data: await this.stats.snapshot() });
    } catch (err) {
      this.log.warn({ err }, "stats not sent; the totals are stored");
    }
  }
}
