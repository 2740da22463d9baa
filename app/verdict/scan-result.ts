import type { Finding } from "./findings.ts";
import type { EngineRun, ScanStatus, ThreatLevel } from "./scoring.ts";
import type { EngineName } from "./tiers.ts";

/** The result of docs/results.md (contract), plus the config hash that produced it. */
export interface ScanResult {
  readonly status: ScanStatus;
  readonly threatLevel: ThreatLevel;
  readonly confidence: number;
  readonly findings: readonly Finding[];
  readonly recommendations: readonly string[];
  readonly engines: Readonly<Partial<Record<EngineName, EngineRun>>>;
  readonly sha256: string | null;
  readonly fileType: string | null;
  readonly scanTimeMs: number;
  readonly configHash: string;
  /**
   * Advisory engines the tier runs that did not answer (VirusTotal over its quota, unreachable):
   * the verdict stands on the other engines, and a follow-up scan asks again. Absent when none.
   */
  readonly incomplete?: readonly MissingEngine[];
}

export interface MissingEngine {
  readonly engine: EngineName;
  readonly code: string;
  readonly reason: string;
}
