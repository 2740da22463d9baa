import { EngineError } from "../../errors/engine-error.ts";
import type { Finding } from "../../verdict/findings.ts";
import type { VirusTotalCache } from "./virustotal-cache.ts";
import { DIRECT_UPLOAD_MAX_BYTES, type FileReport, type VirusTotalClient } from "./virustotal-client.ts";
import { mayUpload } from "./upload-policy.ts";
import { VirusTotalError } from "./virustotal-error.ts";
import type { VirusTotalQuota } from "./virustotal-quota.ts";
import type { EngineVersion, ScanContext, ScanOutcome, Scanner } from "../../scan/scanner.ts";

export interface VirusTotalThresholds {
  /** Engines calling the file malicious for the verdict infected. */
  readonly infected: number;
  /** Engines calling it malicious or suspicious for the verdict suspicious. */
  readonly suspicious: number;
}

export type VirusTotalState = "unknown" | "ok" | "wrong-credentials" | "quota-exceeded" | "unavailable";

/**
 * VirusTotal's opinion of the file's SHA-256 (gold and enterprise). Only the hash leaves the
 * machine by default: never the bytes, the name or anything from inside the file (uploads,
 * off by default, send only native programs that cannot be a patient's record). Detects what 70+
 * engines already know by hash; misses anything new or changed by a single byte. An unknown
 * hash changes nothing. VirusTotal is advisory: when it cannot answer (quota, error,
 * timeout) the verdict stands on the local engines and the worker asks again later.
 */
export class VirusTotalScanner implements Scanner {
  readonly name = "virustotal" as const;
  /** The last thing VirusTotal told us about our access, for /health/ready. */
  state: VirusTotalState = "unknown";

  constructor(
    private readonly client: VirusTotalClient,
    private readonly quota: VirusTotalQuota,
    private readonly cache: VirusTotalCache,
    private readonly thresholds: VirusTotalThresholds,
    /** Whether programs unknown by hash may be uploaded (see mayUpload). */
    private readonly uploadsEnabled: boolean,
  ) {}

  async version(): Promise<EngineVersion> {
    return { label: "virustotal-v3", cacheable: true };
  }

  async scan(ctx: ScanContext): Promise<ScanOutcome> {
    const sha256 = ctx.facts?.sha256;
    if (!sha256) throw new EngineError("ENGINE_FAILED", "no SHA-256 to look up", false);
    let report = await this.cache.get(sha256);
    if (report === undefined) {
      report = await this.ask((signal) => this.client.fileReport(sha256, signal), ctx);
      await this.cache.set(sha256, report);
    }
    if (report === null && this.uploadsEnabled && (await mayUpload(ctx.facts, ctx.file.path, ctx.signal))) report = await this.analyse(sha256, ctx);
    ctx.progress(1);
    return { findings: this.findings(report) };
  }

  /**
   * An unknown program's bytes go to VirusTotal once; follow-up scans then read the analysis
   * until it is complete. Until then VirusTotal is "unavailable", so the verdict stands on
   * the local engines and the worker never waits for VirusTotal's queue.
   */
  private async analyse(sha256: string, ctx: ScanContext): Promise<FileReport> {
    const id = await this.cache.analysisId(sha256);
    if (!id) {
      const size = ctx.facts!.size;
      const sent = await this.ask((signal) => this.client.upload(ctx.file.path, size, sha256, signal), ctx, size > DIRECT_UPLOAD_MAX_BYTES ? 2 : 1);
      await this.cache.setAnalysisId(sha256, sent);
      throw new EngineError("ENGINE_UNAVAILABLE", `the program was sent to VirusTotal (analysis ${sent}); its answer is read in a follow-up scan`, true);
    }
    const analysis = await this.ask((signal) => this.client.analysis(id, sha256, signal), ctx);
    if (analysis.status !== "completed") throw new EngineError("ENGINE_UNAVAILABLE", `VirusTotal analysis ${id} is ${analysis.status}; read again in a follow-up scan`, true);
    await this.cache.set(sha256, analysis.report);
    return analysis.report;
  }

  /** One call to VirusTotal within the shared quota and the tenant's share of it (`requests` of each); its failures make the engine unavailable. */
  private async ask<T>(call: (signal: AbortSignal) => Promise<T>, ctx: ScanContext, requests = 1): Promise<T> {
    for (let i = 0; i < requests; i++) {
      const answer = await this.quota.tryTake(ctx.request.tenantId ?? "-");
      if (answer === "tenant") throw new EngineError("ENGINE_UNAVAILABLE", "this tenant's share of the VirusTotal quota is used up for now; the lookup is queued for later", true);
      if (answer === "shared") {
        this.state = "quota-exceeded";
        throw new EngineError("ENGINE_UNAVAILABLE", "VirusTotal quota used up for now; the lookup is queued for later", true);
      }
    }
    try {
      const answer = await call(ctx.signal);
      this.state = "ok";
      return answer;
    } catch (err) {
      if (!(err instanceof VirusTotalError)) throw err;
      this.state = err.code === "WrongCredentialsError" ? "wrong-credentials" : err.code === "QuotaExceededError" ? "quota-exceeded" : "unavailable";
      throw new EngineError("ENGINE_UNAVAILABLE", err.message, true, { cause: err });
    }
  }

  private findings(report: FileReport | null): Finding[] {
    if (!report) return [{ engine: "virustotal", id: "virustotal.unknown", severity: "info", verdict: "info", description: "VirusTotal does not know this file's hash", target: "file" }];
    const { malicious, suspicious } = report.stats;
    const names = Object.entries(report.detections).slice(0, 5).map(([engine, name]) => `${engine}: ${name}`).join(", ");
    const summary = `${malicious} engines on VirusTotal call it malicious, ${suspicious} suspicious${names ? ` (${names})` : ""}`;
    if (malicious >= this.thresholds.infected) return [{ engine: "virustotal", id: "virustotal.malicious", severity: "high", verdict: "infected", description: summary, target: "file" }];
    if (malicious + suspicious >= this.thresholds.suspicious) return [{ engine: "virustotal", id: "virustotal.flagged", severity: "medium", verdict: "suspicious", description: summary, target: "file" }];
    return [];
  }
}
