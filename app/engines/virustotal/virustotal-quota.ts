import type { RedisConnection } from "../../store/redis-connection.ts";

export interface QuotaSettings {
  readonly perMinute: number;
  readonly perDay: number;
  /** The part of each window one tenant may use (0..1]: no tenant can use up everyone's quota. */
  readonly tenantShare: number;
}

/** Whether a request fits: "shared" when the deployment's quota is used up, "tenant" when only this tenant's share is. */
export type QuotaAnswer = "ok" | "shared" | "tenant";

/**
 * VirusTotal's request quota, shared by every worker through Redis: fixed windows per
 * minute and per UTC day, and within them a share per tenant. A request over any is refused
 * at once; nobody waits for a slot.
 */
export class VirusTotalQuota {
  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
    private readonly settings: QuotaSettings,
  ) {}

  async tryTake(tenant: string, now = new Date()): Promise<QuotaAnswer> {
    const minute = Math.floor(now.getTime() / 60_000);
    const day = now.toISOString().slice(0, 10);
    const keys = [`${this.prefix}:vt:minute:${minute}`, `${this.prefix}:vt:day:${day}`, `${this.prefix}:vt:tenant:${tenant}:minute:${minute}`, `${this.prefix}:vt:tenant:${tenant}:day:${day}`];
    const ttls = [120, 2 * 86_400, 120, 2 * 86_400];
    const share = (n: number) => Math.max(1, Math.floor(n * this.settings.tenantShare));
    const limits = [this.settings.perMinute, this.settings.perDay, share(this.settings.perMinute), share(this.settings.perDay)];
    const tx = this.redis.multi();
    keys.forEach((k, i) => tx.incr(k).expire(k, ttls[i]!));
    const replies = (await tx.exec()) as unknown as number[];
    const counts = keys.map((_, i) => replies[i * 2]!);
    if (counts.every((c, i) => c <= limits[i]!)) return "ok";
    const undo = this.redis.multi();
    for (const k of keys) undo.decr(k);
    await undo.exec();
    return counts[0]! > limits[0]! || counts[1]! > limits[1]! ? "shared" : "tenant";
  }
}
