import type { RedisConnection } from "../store/redis-connection.ts";

export interface DailyUse {
  readonly allowed: boolean;
  readonly count: number;
  /** Seconds until the next UTC day, when the count starts again. */
  readonly retryAfterSeconds: number;
}

/** Files per user per UTC day, shared by every process through Redis. */
export class DailyCounter {
  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
  ) {}

  /** Counts one file if the user is under `limit` today; a refused file is not counted. */
  async consume(userId: string, limit: number, now = new Date()): Promise<DailyUse> {
    const key = this.key(userId, now);
    const [count] = (await this.redis.multi().incr(key).expire(key, 2 * 86_400).exec()) as unknown as [number];
    const retryAfterSeconds = secondsToNextDay(now);
    if (count > limit) {
      await this.redis.decr(key);
      return { allowed: false, count: count - 1, retryAfterSeconds };
    }
    return { allowed: true, count, retryAfterSeconds };
  }

  /** Whether one more file fits today, without counting it: lets an upload be refused before its body is read. */
  async peek(userId: string, limit: number, now = new Date()): Promise<DailyUse> {
    const count = Number((await this.redis.get(this.key(userId, now))) ?? 0);
    return { allowed: count < limit, count, retryAfterSeconds: secondsToNextDay(now) };
  }

  /** Gives back a file counted for an upload that was then refused (too big, bad hash). */
  async release(userId: string, now = new Date()): Promise<void> {
    await this.redis.decr(this.key(userId, now));
  }

  private key(userId: string, now: Date): string {
    return `${this.prefix}:daily:${now.toISOString().slice(0, 10)}:${userId}`;
  }
}

function secondsToNextDay(now: Date): number {
  const nextDay = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return Math.ceil((nextDay - now.getTime()) / 1000);
}
