import { createClient } from "redis";
import type { Logger } from "../log.ts";

export type RedisConnection = ReturnType<typeof createClient>;

/**
 * A node-redis client that reconnects for ever with a capped backoff: Redis restarting must
 * delay the service, not end it. Errors are logged (an unhandled one would kill the process).
 */
export async function connectRedis(url: string, log: Logger, role: string): Promise<RedisConnection> {
  const client = createClient({ url, socket: { reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 2000) } });
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
