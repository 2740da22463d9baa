import { VirusTotalError } from "./virustotal-error.ts";

export interface AnalysisStats {
  readonly malicious: number;
  readonly suspicious: number;
  readonly undetected: number;
  readonly harmless: number;
}

export interface FileReport {
  readonly sha256: string;
  readonly stats: AnalysisStats;
  /** Engine name → detection name, for the engines that called it malicious or suspicious. */
  readonly detections: Readonly<Record<string, string>>;
}

export interface VirusTotalSettings {
  readonly baseUrl: string;
  readonly apiKey: string;
  readonly timeoutMs: number;
}

/**
 * A small VirusTotal API v3 client over Node's fetch: the key travels in the `x-apikey`
 * header, never in a URL. Only what this service needs: the file report by SHA-256.
 */
export class VirusTotalClient {
  constructor(private readonly settings: VirusTotalSettings) {}

  /** The report for a hash, or null when VirusTotal does not know the file (404 NotFoundError). */
  async fileReport(sha256: string, signal?: AbortSignal): Promise<FileReport | null> {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new VirusTotalError("UnexpectedAnswer", "only a lower-case SHA-256 is ever looked up");
    const res = await this.request(`/files/${sha256}`, signal);
    if (res.status === 404) return null;
    const body = (await res.json().catch(() => null)) as { data?: { attributes?: { last_analysis_stats?: Partial<AnalysisStats>; last_analysis_results?: Record<string, { category?: string; result?: string | null }> } } } | null;
    const attributes = body?.data?.attributes;
    if (!attributes?.last_analysis_stats) throw new VirusTotalError("UnexpectedAnswer", "the file report has no last_analysis_stats", res.status);
    const s = attributes.last_analysis_stats;
    const detections: Record<string, string> = {};
    for (const [engine, r] of Object.entries(attributes.last_analysis_results ?? {})) {
      if (r.category === "malicious" || r.category === "suspicious") detections[engine] = r.result ?? r.category;
    }
    return { sha256, stats: { malicious: s.malicious ?? 0, suspicious: s.suspicious ?? 0, undetected: s.undetected ?? 0, harmless: s.harmless ?? 0 }, detections };
  }

  private async request(path: string, signal?: AbortSignal): Promise<Response> {
    const timeout = AbortSignal.timeout(this.settings.timeoutMs);
    let res: Response;
    try {
      res = await fetch(`${this.settings.baseUrl.replace(/\/+$/, "")}${path}`, {
        headers: { "x-apikey": this.settings.apiKey, accept: "application/json" },
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (err) {
      if (timeout.aborted) throw new VirusTotalError("Timeout", `VirusTotal did not answer within ${this.settings.timeoutMs} ms`);
      throw new VirusTotalError("Unreachable", `VirusTotal is not reachable: ${(err as Error).message}`);
    }
    if (res.ok || res.status === 404) return res;
    const error = ((await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null)?.error;
    const code = error?.code === "WrongCredentialsError" || res.status === 401 ? "WrongCredentialsError" : error?.code === "QuotaExceededError" || res.status === 429 ? "QuotaExceededError" : "TransientError";
    throw new VirusTotalError(code, `VirusTotal answered ${res.status} ${error?.code ?? ""}: ${error?.message ?? ""}`.trim(), res.status);
  }
}
