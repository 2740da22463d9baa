import { setMaxListeners } from "node:events";
import { createClient } from "redis";
import { QueueUnavailableError } from "../errors/queue-unavailable-error.ts";
import type { Logger } from "../log.ts";

export type RedisConnection = ReturnType<typeof createClient>;

/**
 * How long a command may wait in the client's queue while Redis is away before it fails; it is
 * then dropped unsent, so a request that gave up does not count a file once Redis is back.
 */
export const REDIS_COMMAND_TIMEOUT_MS = 5000;
/** How long one deadline signal is handed to new commands before a fresh one is made. */
const DEADLINE_SHARED_MS = 1000;

/**
 * The deadline of the commands sent within one second: a signal that aborts
 * REDIS_COMMAND_TIMEOUT_MS after it was made, so a command waits unsent for 4-5 s at most. One
 * signal a second, not node-redis's `timeout` option: that makes an `AbortSignal.timeout` for
 * every command, whose timer fires 5 s later and builds a DOMException even though the command
 * was long answered (a few per cent of the app's CPU per upload, BENCHMARKS.md).
 */
export class SharedDeadline {
  private signal: AbortSignal;
  private madeAt: number;

  constructor(
    private readonly timeoutMs = REDIS_COMMAND_TIMEOUT_MS,
    private readonly sharedMs = DEADLINE_SHARED_MS,
  ) {
    this.signal = this.make();
    this.madeAt = performance.now();
  }

  current(): AbortSignal {
    const now = performance.now();
    if (now - this.madeAt >= this.sharedMs) {
      this.signal = this.make();
      this.madeAt = now;
    }
    return this.signal;
  }

  /** Every command waiting adds a listener: no limit (0), so no leak warning past Node's default of 10. */
  private make(): AbortSignal {
    const signal = AbortSignal.timeout(this.timeoutMs);
    setMaxListeners(0, signal);
    return signal;
  }
}

/**
 * A node-redis client that reconnects for ever with a capped backoff: Redis restarting must
 * delay the service, not end it. Errors are logged (an unhandled one would kill the process).
 */
export async function connectRedis(url: string, log: Logger, role: string): Promise<RedisConnection> {
  const deadline = new SharedDeadline();
  const client = createClient({
    url,
    socket: { reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 2000) },
    // node-redis reads its default command options afresh for every command.
    commandOptions: {
      get abortSignal() {
        return deadline.current();
      },
    },
  });
  let lastLogged = 0;
  client.on("error", (err: Error) => {
    // One line per 10 s while Redis is away, not one per reconnect attempt.
    if (Date.now() - lastLogged > 10_000) {
      lastLogged = Date.now();
      log.warn({ role, err: err.message }, "redis connection error");
    }
  });
  await client.connect();
  return client;
}

/** A Redis call on a request's path: whatever stops it (a restart, a timeout, `LOADING`) is a QueueUnavailableError, answered 503. */
export async function orQueueUnavailable<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    throw new QueueUnavailableError(err);
  }
}
