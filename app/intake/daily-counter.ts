import { orQueueUnavailable, type RedisConnection } from "../store/redis-connection.ts";

export interface DailyUse {
  readonly allowed: boolean;
  readonly count: number;
  /** Seconds until the next UTC day, when the count starts again. */
  readonly retryAfterSeconds: number;
}

/**
 * Counts one file if the count is under the limit (ARGV[1]), in one command: a MULTI could not
 * be dropped unsent when its request gives up while Redis is away. Returns {allowed, count}.
 */
const CONSUME = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if n > tonumber(ARGV[1]) then
  redis.call('DECR', KEYS[1])
  return {0, n - 1}
end
return {1, n}`;

/** Files per user per UTC day, shared by every process through Redis; Redis away is a QueueUnavailableError. */
export class DailyCounter {
  constructor(
    private readonly redis: Pick<RedisConnection, "eval" | "get" | "decr">,
    private readonly prefix: string,
  ) {}

  /** Counts one file if the user is under `limit` today; a refused file is not counted. */
  async consume(userId: string, limit: number, now = new Date()): Promise<DailyUse> {
    const reply = await orQueueUnavailable(this.redis.eval(CONSUME, { keys: [this.key(userId, now)], arguments: [String(limit), String(2 * 86_400)] }));
    const [allowed, count] = reply as [number, number];
    return { allowed: allowed === 1, count, retryAfterSeconds: secondsToNextDay(now) };
  }

  /** Whether one more file fits today, without counting it: lets an upload be refused before its body is read. */
  async peek(userId: string, limit: number, now = new Date()): Promise<DailyUse> {
    const count = Number((await orQueueUnavailable(this.redis.get(this.key(userId, now)))) ?? 0);
    return { allowed: count < limit, count, retryAfterSeconds: secondsToNextDay(now) };
  }

  /** Gives back a file counted for an upload that was then refused (too big, bad hash). */
  async release(userId: string, now = new Date()): Promise<void> {
    await orQueueUnavailable(this.redis.decr(this.key(userId, now)));
  }

  private key(userId: string, now: Date): string {
    return `${this.prefix}:daily:${now.toISOString().slice(0, 10)}:${userId}`;
  }
}

function secondsToNextDay(now: Date): number {
  const nextDay = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return Math.ceil((nextDay - now.getTime()) / 1000);
}
