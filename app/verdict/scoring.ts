import { HEURISTICS, recommendationFor, type Finding, type Severity } from "./findings.ts";
import type { EngineName, Tier } from "./tiers.ts";

export type ScanStatus = "clean" | "suspicious" | "infected" | "error";
export type ThreatLevel = "clean" | "low" | "medium" | "high" | "critical";

export interface EngineRun {
  readonly ran: boolean;
  readonly ms: number;
  readonly version?: string;
  /** "development": the engine had only the development signature set (EICAR and test files), so this is no production verdict. */
  readonly signatures?: "development";
  /** Served from the result cache: the engine ran earlier on the same bytes at the same versions. */
  readonly cached?: boolean;
  readonly error?: { readonly code: string; readonly message: string; readonly retryable: boolean };
}

export interface Verdict {
  readonly status: ScanStatus;
  readonly threatLevel: ThreatLevel;
  readonly confidence: number;
  readonly recommendations: string[];
}

/** Engines whose failure does not block a verdict (their absence is recorded, not fatal). */
export const ADVISORY_ENGINES: readonly EngineName[] = ["virustotal"];

const SEVERITY_RANK: Readonly<Record<Severity, number>> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };
const CLEAN_CONFIDENCE: Readonly<Record<Tier, number>> = { free: 70, premium: 80, gold: 90, enterprise: 90 };

export const STATUS_RECOMMENDATION: Readonly<Record<ScanStatus, string>> = {
  clean: "No threat found by the engines of this tier; the file may be released to its destination.",
  suspicious: "Keep the file in quarantine and have it reviewed before anyone opens it.",
  infected: "Do not open or forward the file; it stays in quarantine. Inform the sender and your security team.",
  error: "The scan did not complete, so the file is not cleared; it stays held until a rescan succeeds.",
};

/**
 * Findings and engine runs to a verdict. The table, in order:
 *   1. any finding with verdict "infected"                 -> infected
 *   2. otherwise any required engine that failed or did not run -> error
 *   3. otherwise any finding with verdict "suspicious"     -> suspicious
 *   4. otherwise                                           -> clean
 * Threat level: clean -> clean; infected -> critical when two or more engines flagged the file,
 * else high; suspicious -> the highest finding severity (at least low); error -> at least medium.
 * Confidence (0..100): clean -> by tier (free 70, premium 80, gold/enterprise 90); infected ->
 * 99 with a ClamAV signature or two engines agreeing, else 90; suspicious -> 60 + 10 per
 * further engine that flagged it, at most 85; error -> 0.
 */
export function scoreFindings(findings: readonly Finding[], engines: Readonly<Partial<Record<EngineName, EngineRun>>>, tier: Tier): Verdict {
  for (const f of findings) {
    if ((f.engine === "validation" || f.engine === "analysis") && !(f.id in HEURISTICS)) {
      throw new Error(`finding id ${f.id} is not a declared heuristic`);
    }
  }
  const flagged = findings.filter((f) => f.verdict !== "info");
  const flaggingEngines = new Set(flagged.map((f) => f.engine));
  const failed = Object.entries(engines).some(([name, run]) => !ADVISORY_ENGINES.includes(name as EngineName) && (!run.ran || run.error));
  const maxSeverity = flagged.reduce<Severity>((m, f) => (SEVERITY_RANK[f.severity] > SEVERITY_RANK[m] ? f.severity : m), "info");

  let status: ScanStatus;
  if (flagged.some((f) => f.verdict === "infected")) status = "infected";
  else if (failed) status = "error";
  else if (flagged.length > 0) status = "suspicious";
  else status = "clean";

  let threatLevel: ThreatLevel;
  let confidence: number;
  switch (status) {
    case "clean":
      threatLevel = "clean";
      confidence = CLEAN_CONFIDENCE[tier];
      break;
    case "infected": {
      const corroborated = flaggingEngines.size >= 2;
      threatLevel = corroborated ? "critical" : "high";
      confidence = corroborated || flagged.some((f) => f.engine === "clamav" && f.verdict === "infected") ? 99 : 90;
      break;
    }
    case "suspicious":
      threatLevel = atLeast(maxSeverity, "low");
      confidence = Math.min(85, 60 + 10 * (flaggingEngines.size - 1));
      break;
    case "error":
      threatLevel = atLeast(maxSeverity, "medium");
      confidence = 0;
      break;
  }
  const recommendations = [STATUS_RECOMMENDATION[status]];
  for (const f of flagged) {
    const r = recommendationFor(f.id);
    if (r && !recommendations.includes(r)) recommendations.push(r);
  }
  return { status, threatLevel, confidence, recommendations };
}

function atLeast(severity: Severity, floor: Exclude<ThreatLevel, "clean">): Exclude<ThreatLevel, "clean"> {
  const s = severity === "info" ? "low" : severity;
  return SEVERITY_RANK[s] >= SEVERITY_RANK[floor] ? s : floor;
}
