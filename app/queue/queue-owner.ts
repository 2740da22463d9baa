import { ConfigError } from "../errors/config-error.ts";
import type { RedisConnection } from "../store/redis-connection.ts";

/**
 * A queue in Redis belongs to the deployment whose store first used it. Appliances that share
 * a Redis but not a store (each its own SQLite or database) must not share a queue: one's
 * worker would take the other's jobs and find no such file in its store. Hosts of one
 * deployment share the store, so they pass.
 */
export async function claimQueue(redis: Pick<RedisConnection, "set" | "get">, prefix: string, queueName: string, deploymentId: string): Promise<void> {
  const key = `${prefix}:deployment`;
  await redis.set(key, deploymentId, { NX: true });
  const owner = await redis.get(key);
  if (owner !== deploymentId) {
    throw new ConfigError([
      `SCAN_QUEUE_NAME=${JSON.stringify(queueName)}: this Redis's queue belongs to another deployment (another store: its own DATA_DIR or DATABASE_URL); give each appliance that keeps its own store its own SCAN_QUEUE_NAME, or share the store (docs/operations.md); if that other deployment is gone for good, delete ${key} from Redis`,
    ]);
  }
}
