import { EngineError } from "../errors/engine-error.ts";
import type { Finding } from "../findings.ts";
import type { VirusTotalCache } from "../virustotal/virustotal-cache.ts";
import type { FileReport, VirusTotalClient } from "../virustotal/virustotal-client.ts";
import { VirusTotalError } from "../virustotal/virustotal-error.ts";
import type { VirusTotalQuota } from "../virustotal/virustotal-quota.ts";
import type { EngineVersion, ScanContext, ScanOutcome, Scanner } from "./scanner.ts";

export interface VirusTotalThresholds {
  /** Engines calling the file malicious for the verdict infected. */
  readonly infected: number;
  /** Engines calling it malicious or suspicious for the verdict suspicious. */
  readonly suspicious: number;
}

export type VirusTotalState = "unknown" | "ok" | "wrong-credentials" | "quota-exceeded" | "unavailable";

/**
 * VirusTotal's opinion of the file's SHA-256 (gold and enterprise). Only the hash leaves the
 * machine: never the bytes, the name or anything from inside the file. Detects what 70+
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
  ) {}

  async version(): Promise<EngineVersion> {
    return { label: "virustotal-v3", cacheable: true };
  }

  async scan(ctx: ScanContext): Promise<ScanOutcome> {
    const sha256 = ctx.facts?.sha256;
    if (!sha256) throw new EngineError("ENGINE_FAILED", "no SHA-256 to look up", false);
    let report = await this.cache.get(sha256);
    if (report === undefined) {
      if (!(await this.quota.tryTake())) {
        this.state = "quota-exceeded";
        throw new EngineError("ENGINE_UNAVAILABLE", "VirusTotal quota used up for now; the lookup is queued for later", true);
      }
      try {
        report = await this.client.fileReport(sha256, ctx.signal);
      } catch (err) {
        if (!(err instanceof VirusTotalError)) throw err;
        this.state = err.code === "WrongCredentialsError" ? "wrong-credentials" : err.code === "QuotaExceededError" ? "quota-exceeded" : "unavailable";
        throw new EngineError("ENGINE_UNAVAILABLE", err.message, true, { cause: err });
      }
      this.state = "ok";
      await this.cache.set(sha256, report);
    }
    ctx.progress(1);
    return { findings: this.findings(report) };
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
