import { createClient } from "redis";
import { QueueUnavailableError } from "../errors/queue-unavailable-error.ts";
import type { Logger } from "../log.ts";

export type RedisConnection = ReturnType<typeof createClient>;

/**
 * How long a command may wait in the client's queue while Redis is away before it fails; it is
 * then dropped unsent, so a request that gave up does not count a file once Redis is back.
 */
export const REDIS_COMMAND_TIMEOUT_MS = 5000;

/**
 * A node-redis client that reconnects for ever with a capped backoff: Redis restarting must
 * delay the service, not end it. Errors are logged (an unhandled one would kill the process).
 */
export async function connectRedis(url: string, log: Logger, role: string): Promise<RedisConnection> {
  const client = createClient({
    url,
    socket: { reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 2000) },
    commandOptions: { timeout: REDIS_COMMAND_TIMEOUT_MS },
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
