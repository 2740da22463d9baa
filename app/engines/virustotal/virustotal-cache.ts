import type { RedisConnection } from "../../store/redis-connection.ts";
import type { FileReport } from "./virustotal-client.ts";

/** How long an uploaded file's analysis id is kept for the follow-up scans that read it. */
const ANALYSIS_TTL_SECONDS = 7 * 86_400;

/**
 * What VirusTotal told us, by hash, in Redis: reports for `ttlSeconds`, "unknown" included
 * (each costs quota to ask again), and the analysis id of a file we uploaded.
 */
export class VirusTotalCache {
  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
  ) {}

  async get(sha256: string): Promise<FileReport | null | undefined> {
    const raw = await this.redis.get(this.key("report", sha256));
    if (raw === null) return undefined;
    return JSON.parse(raw) as FileReport | null;
  }

  async set(sha256: string, report: FileReport | null): Promise<void> {
    await this.redis.set(this.key("report", sha256), JSON.stringify(report), { EX: this.ttlSeconds });
  }

  analysisId(sha256: string): Promise<string | null> {
    return this.redis.get(this.key("analysis", sha256));
  }

  async setAnalysisId(sha256: string, id: string): Promise<void> {
    await this.redis.set(this.key("analysis", sha256), id, { EX: ANALYSIS_TTL_SECONDS });
  }

  private key(kind: "report" | "analysis", sha256: string): string {
    return `${this.prefix}:vt:${kind}:${sha256}`;
  }
}
