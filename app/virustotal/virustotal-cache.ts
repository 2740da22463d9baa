import type { RedisConnection } from "../redis/redis-connection.ts";
import type { FileReport } from "./virustotal-client.ts";

/** Reports by hash in Redis for `ttlSeconds`, "unknown" included: each costs quota to ask again. */
export class VirusTotalCache {
  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
  ) {}

  async get(sha256: string): Promise<FileReport | null | undefined> {
    const raw = await this.redis.get(this.key(sha256));
    if (raw === null) return undefined;
    return JSON.parse(raw) as FileReport | null;
  }

  async set(sha256: string, report: FileReport | null): Promise<void> {
    await this.redis.set(this.key(sha256), JSON.stringify(report), { EX: this.ttlSeconds });
  }

  private key(sha256: string): string {
    return `${this.prefix}:vt:report:${sha256}`;
  }
}
