import { openAsBlob } from "node:fs";
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

/** An analysis of an uploaded file: its report once VirusTotal has finished, else only that it has not. */
export type Analysis = { readonly status: "completed"; readonly report: FileReport } | { readonly status: "queued" | "in-progress" };

export interface VirusTotalSettings {
  readonly baseUrl: string;
  readonly apiKey: string;
  readonly timeoutMs: number;
  /** For sending a file's bytes, which takes longer than a lookup. */
  readonly uploadTimeoutMs: number;
}

/** VirusTotal's limit for `POST /files`; bigger files go to a one-time `upload_url`. */
export const DIRECT_UPLOAD_MAX_BYTES = 32 * 1024 * 1024;
/** VirusTotal takes no file bigger than this, even through an `upload_url`. */
export const UPLOAD_MAX_BYTES = 650 * 1024 * 1024;

type Results = Record<string, { category?: string; result?: string | null }>;

/**
 * A small VirusTotal API v3 client over Node's fetch: the key travels in the `x-apikey`
 * header, never in a URL. Only what this service needs: the file report by SHA-256 and,
 * where configuration allows it, uploading a file and reading its analysis.
 */
export class VirusTotalClient {
  constructor(private readonly settings: VirusTotalSettings) {}

  /** The report for a hash, or null when VirusTotal does not know the file (404 NotFoundError). */
  async fileReport(sha256: string, signal?: AbortSignal): Promise<FileReport | null> {
    checkSha256(sha256);
    const res = await this.request(this.url(`/files/${sha256}`), { signal });
    if (res.status === 404) return null;
    const attributes = (await body<{ data?: { attributes?: { last_analysis_stats?: Partial<AnalysisStats>; last_analysis_results?: Results } } }>(res))?.data?.attributes;
    if (!attributes?.last_analysis_stats) throw new VirusTotalError("UnexpectedAnswer", "the file report has no last_analysis_stats", res.status);
    return report(sha256, attributes.last_analysis_stats, attributes.last_analysis_results);
  }

  /**
   * Sends the file's bytes, streamed from disk, under the name `<sha256>.bin`: the client's
   * file name never leaves. Returns the analysis id. Above 32 MB through a one-time upload URL,
   * which must be on VirusTotal's own origin because the key goes with it.
   */
  async upload(filePath: string, size: number, sha256: string, signal?: AbortSignal): Promise<string> {
    checkSha256(sha256);
    if (size > UPLOAD_MAX_BYTES) throw new VirusTotalError("UnexpectedAnswer", `VirusTotal takes no file over ${UPLOAD_MAX_BYTES} bytes`);
    let target = this.url("/files");
    if (size > DIRECT_UPLOAD_MAX_BYTES) {
      const url = (await body<{ data?: unknown }>(await this.request(this.url("/files/upload_url"), { signal })))?.data;
      if (typeof url !== "string" || !URL.canParse(url) || new URL(url).origin !== new URL(this.settings.baseUrl).origin) {
        throw new VirusTotalError("UnexpectedAnswer", "the upload URL is missing or not on VirusTotal's origin");
      }
      target = url;
    }
    const form = new FormData();
    form.set("file", await openAsBlob(filePath), `${sha256}.bin`);
    const res = await this.request(target, { method: "POST", body: form, signal }, this.settings.uploadTimeoutMs);
    const id = (await body<{ data?: { type?: string; id?: unknown } }>(res))?.data?.id;
    if (typeof id !== "string" || id === "") throw new VirusTotalError("UnexpectedAnswer", "the upload answer has no analysis id", res.status);
    return id;
  }

  /** `GET /analyses/{id}`: whether VirusTotal has finished with an uploaded file, and its findings if so. */
  async analysis(id: string, sha256: string, signal?: AbortSignal): Promise<Analysis> {
    const res = await this.request(this.url(`/analyses/${encodeURIComponent(id)}`), { signal });
    const attributes = (await body<{ data?: { attributes?: { status?: string; stats?: Partial<AnalysisStats>; results?: Results } } }>(res))?.data?.attributes;
    if (attributes?.status === "queued" || attributes?.status === "in-progress") return { status: attributes.status };
    if (attributes?.status !== "completed" || !attributes.stats) throw new VirusTotalError("UnexpectedAnswer", `the analysis answer has status ${String(attributes?.status)} and no stats`, res.status);
    return { status: "completed", report: report(sha256, attributes.stats, attributes.results) };
  }

  private url(path: string): string {
    return `${this.settings.baseUrl.replace(/\/+$/, "")}${path}`;
  }

  private async request(url: string, init: { method?: string; body?: FormData; signal?: AbortSignal | undefined }, timeoutMs = this.settings.timeoutMs): Promise<Response> {
    const timeout = AbortSignal.timeout(timeoutMs);
    let res: Response;
    try {
      res = await fetch(url, {
        method: init.method ?? "GET",
        body: init.body,
        headers: { "x-apikey": this.settings.apiKey, accept: "application/json" },
        // A redirect would carry the key (and on 307/308 the file) to wherever it points.
        redirect: "error",
        signal: init.signal ? AbortSignal.any([init.signal, timeout]) : timeout,
      });
    } catch (err) {
      if (timeout.aborted) throw new VirusTotalError("Timeout", `VirusTotal did not answer within ${timeoutMs} ms`);
      throw new VirusTotalError("Unreachable", `VirusTotal is not reachable: ${(err as Error).message}`);
    }
    if (res.ok || res.status === 404) return res;
    const error = (await body<{ error?: { code?: string; message?: string } }>(res))?.error;
    const code = error?.code === "WrongCredentialsError" || res.status === 401 ? "WrongCredentialsError" : error?.code === "QuotaExceededError" || res.status === 429 ? "QuotaExceededError" : "TransientError";
    throw new VirusTotalError(code, `VirusTotal answered ${res.status} ${error?.code ?? ""}: ${error?.message ?? ""}`.trim(), res.status);
  }
}

function checkSha256(sha256: string): void {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new VirusTotalError("UnexpectedAnswer", "only a lower-case SHA-256 is ever sent");
}

async function body<T>(res: Response): Promise<T | null> {
  return (await res.json().catch(() => null)) as T | null;
}

function report(sha256: string, s: Partial<AnalysisStats>, results: Results | undefined): FileReport {
  const detections: Record<string, string> = {};
  for (const [engine, r] of Object.entries(results ?? {})) {
    if (r.category === "malicious" || r.category === "suspicious") detections[engine] = r.result ?? r.category;
  }
  return { sha256, stats: { malicious: s.malicious ?? 0, suspicious: s.suspicious ?? 0, undetected: s.undetected ?? 0, harmless: s.harmless ?? 0 }, detections };
}
