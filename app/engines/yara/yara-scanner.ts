import type { Finding, FindingVerdict, Severity } from "../../verdict/findings.ts";
import { TIER_POLICIES } from "../../verdict/tiers.ts";
import { scanFile } from "./scan-windows.ts";
import type { RuleMatch, YaraRuleBook } from "./yara-rules.ts";
import type { EngineVersion, ScanContext, ScanOutcome, ScanRequest, Scanner } from "../../scan/scanner.ts";

const SEVERITIES: readonly Severity[] = ["info", "low", "medium", "high", "critical"];

/**
 * YARA-X rules over the file and its derived content. Premium gets rules tagged `basic`, gold
 * and enterprise also `advanced`, enterprise tenants their own folder too. Detects the
 * patterns in rules/yara; misses whatever no rule describes. A rule's meta gives its
 * severity, verdict and description; missing or unknown meta counts as suspicious/medium.
 */
export class YaraScanner implements Scanner {
  readonly name = "yara" as const;

  constructor(private readonly book: YaraRuleBook) {}

  async version(request: ScanRequest): Promise<EngineVersion> {
    const tenant = this.tenantRules(request);
    return { label: tenant ? `${this.book.builtIn.hash}+${tenant.hash}` : this.book.builtIn.hash, cacheable: true };
  }

  async scan(ctx: ScanContext): Promise<ScanOutcome> {
    const sets = TIER_POLICIES[ctx.request.tier].yaraSets;
    const tenant = this.tenantRules(ctx.request);
    const findings: Finding[] = [];
    for (const [i, target] of ctx.targets.entries()) {
      const builtIn = await scanFile(this.book.builtIn, target.path);
      for (const match of builtIn) {
        const set = match.tags.includes("advanced") ? "advanced" : "basic";
        if (sets.includes(set)) findings.push(toFinding(match, target.label));
      }
      if (tenant) for (const match of await scanFile(tenant, target.path)) findings.push(toFinding(match, target.label));
      ctx.progress((i + 1) / ctx.targets.length);
    }
    return { findings };
  }

  private tenantRules(request: ScanRequest) {
    if (!TIER_POLICIES[request.tier].customRules || !request.tenantId) return undefined;
    return this.book.tenants.get(request.tenantId);
  }
}

function toFinding(match: RuleMatch, target: string): Finding {
  const meta = match.meta as Record<string, unknown>;
  const severity = SEVERITIES.includes(meta.severity as Severity) ? (meta.severity as Severity) : "medium";
  const verdict: FindingVerdict = meta.verdict === "infected" ? "infected" : meta.verdict === "info" ? "info" : "suspicious";
  const description = typeof meta.description === "string" ? meta.description : `YARA rule ${match.ruleIdentifier}`;
  return { engine: "yara", id: match.ruleIdentifier, severity, verdict, description, offset: match.matches[0]?.offset, target };
}
