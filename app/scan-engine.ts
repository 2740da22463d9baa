import { createHash } from "node:crypto";
import { ClamdClient } from "./clamd/clamd-client.ts";
import type { Config } from "./config.ts";
import { ScanPipeline } from "./pipeline.ts";
import { ResultCache } from "./result-cache.ts";
import { AnalysisScanner } from "./scanners/analysis-scanner.ts";
import { ClamavScanner } from "./scanners/clamav-scanner.ts";
import type { Scanner } from "./scanners/scanner.ts";
import { ValidationScanner } from "./scanners/validation-scanner.ts";
import { YaraScanner } from "./scanners/yara-scanner.ts";
import { loadRuleBook, type YaraRuleBook } from "./yara/yara-rules.ts";

export interface ScanEngine {
  readonly pipeline: ScanPipeline;
  readonly clamd: ClamdClient;
  readonly rules: YaraRuleBook;
}

/**
 * Builds the scanning core from a validated config: compiles the YARA rules (a rule that does
 * not compile refuses the start) and wires the engines in tier-table order. With
 * VIRUS_SCANNING_ENABLED=false ClamAV is left out, so no result can be clean.
 */
export async function createScanEngine(config: Config): Promise<ScanEngine> {
  const rules = await loadRuleBook(config.yara.rulesDir, config.yara.customRulesDir);
  const clamd = new ClamdClient({ host: config.clamav.host, port: config.clamav.port, timeoutMs: config.clamav.timeoutMs });
  const scanners: Scanner[] = [
    new ValidationScanner(config.allowedFileTypes, config.limits),
    ...(config.clamav.enabled ? [new ClamavScanner(clamd)] : []),
    new YaraScanner(rules),
    new AnalysisScanner(),
  ];
  const pipeline = new ScanPipeline({
    scanners,
    timeoutsMs: {
      validation: config.timeouts.validationMs,
      // Above clamd's own timeout so that clamd's answer, not ours, decides when it is slow.
      clamav: config.clamav.timeoutMs + 1000,
      yara: config.yara.timeoutMs,
      analysis: config.timeouts.analysisMs,
    },
    cache: new ResultCache(config.resultCache.maxEntries, config.resultCache.ttlMs),
    tmpDir: config.tmpDir,
    configHash: scanConfigHash(config),
  });
  return { pipeline, clamd, rules };
}

/** Only what changes a verdict: secrets and service settings stay out of results. */
function scanConfigHash(config: Config): string {
  const { clamav, yara, timeouts, allowedFileTypes, limits } = config;
  return createHash("sha256").update(JSON.stringify({ clamav, yara, timeouts, allowedFileTypes, limits })).digest("hex").slice(0, 16);
}
