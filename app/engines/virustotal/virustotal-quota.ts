import type { RedisConnection } from "../../store/redis-connection.ts";

export interface QuotaSettings {
  readonly perMinute: number;
  readonly perDay: number;
}

/**
 * VirusTotal's request quota, shared by every worker through Redis: fixed windows per
 * minute and per UTC day. A request over either is refused at once; nobody waits for a slot.
 */
export class VirusTotalQuota {
  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
    private readonly settings: QuotaSettings,
  ) {}

  async tryTake(now = new Date()): Promise<boolean> {
    const minute = `${this.prefix}:vt:minute:${Math.floor(now.getTime() / 60_000)}`;
    const day = `${this.prefix}:vt:day:${now.toISOString().slice(0, 10)}`;
    const [m, , d] = (await this.redis.multi().incr(minute).expire(minute, 120).incr(day).expire(day, 2 * 86_400).exec()) as unknown as [number, unknown, number];
    if (m <= this.settings.perMinute && d <= this.settings.perDay) return true;
    await this.redis.multi().decr(minute).decr(day).exec();
    return false;
  }
}
