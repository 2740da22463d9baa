import { createHash } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ClamdClient } from "./engines/clamav/clamd-client.ts";
import type { Config } from "./config.ts";
import { ScanPipeline } from "./scan/pipeline.ts";
import { ResultCache } from "./scan/result-cache.ts";
import { EnginePool, PooledScanner } from "./scan/engine-pool.ts";
import { AnalysisScanner } from "./engines/analysis/analysis-scanner.ts";
import { ClamavScanner, type ClamavOptions } from "./engines/clamav/clamav-scanner.ts";
import { filesDirOf } from "./intake/file-storage.ts";
import type { Logger } from "./log.ts";
import type { Scanner } from "./scan/scanner.ts";
import { ValidationScanner } from "./engines/validation/validation-scanner.ts";
import { VirusTotalScanner } from "./engines/virustotal/virustotal-scanner.ts";
import { YaraScanner } from "./engines/yara/yara-scanner.ts";
import type { RedisConnection } from "./store/redis-connection.ts";
import { VirusTotalCache } from "./engines/virustotal/virustotal-cache.ts";
import { VirusTotalClient } from "./engines/virustotal/virustotal-client.ts";
import { VirusTotalQuota } from "./engines/virustotal/virustotal-quota.ts";
import { loadRuleBook, type YaraRuleBook } from "./engines/yara/yara-rules.ts";

const here = fileURLToPath(import.meta.url);
/** The engine threads' entry: service/engine-thread.ts from source (tests, tsx), .js from the build. */
const ENGINE_THREAD_FILE = path.join(path.dirname(here), "service", `engine-thread${path.extname(here)}`);

export interface ScanEngine {
  readonly pipeline: ScanPipeline;
  readonly clamd: ClamdClient;
  readonly rules: YaraRuleBook;
  readonly virustotal?: VirusTotalScanner;
  readonly pool: Pick<EnginePool, "threadIds">;
  /** Ends the engine threads; scans still running in them fail. */
  close(): Promise<void>;
}

/** Redis, for what engines share between workers (VirusTotal's quota and its answers). */
export interface SharedState {
  readonly redis: RedisConnection;
  readonly prefix: string;
}

/** What the scanning core tells the process it runs in. */
export interface ScanEngineHooks {
  readonly log?: Pick<Logger, "warn">;
  /** Each stored file clamd was not allowed to read by path, so it was streamed instead. */
  readonly onPathRefused?: () => void;
}

/**
 * Builds the scanning core from a validated config: compiles the YARA rules (a rule that does
 * not compile refuses the start), starts the engine threads that validation, YARA-X and
 * analysis run in, and wires the engines in tier-table order. With
 * VIRUS_SCANNING_ENABLED=false ClamAV is left out, so no result can be clean.
 */
export async function createScanEngine(config: Config, shared?: SharedState, hooks: ScanEngineHooks = {}): Promise<ScanEngine> {
  const rules = await loadRuleBook(config.yara.rulesDir, config.yara.customRulesDir);
  const clamd = clamdClientFor(config);
  const vt = config.virustotal;
  const virustotal =
    vt && shared
      ? new VirusTotalScanner(
          new VirusTotalClient({ baseUrl: vt.baseUrl, apiKey: vt.apiKey, timeoutMs: vt.timeoutMs, uploadTimeoutMs: vt.uploadTimeoutMs }),
          new VirusTotalQuota(shared.redis, shared.prefix, { perMinute: vt.perMinute, perDay: vt.perDay, tenantShare: vt.tenantShare }),
          new VirusTotalCache(shared.redis, shared.prefix, vt.cacheTtlSeconds),
          vt.thresholds,
          vt.uploadEnabled,
        )
      : undefined;
  const pool = new EnginePool(ENGINE_THREAD_FILE, { allowedFileTypes: config.allowedFileTypes, limits: config.limits, tiers: config.tiers, rulesDir: config.yara.rulesDir, customRulesDir: config.yara.customRulesDir }, config.engineThreads);
  const scanners: Scanner[] = [
    new PooledScanner(new ValidationScanner(config.allowedFileTypes, config.limits, config.tiers), pool),
    ...(config.clamav.enabled ? [new ClamavScanner(clamd, clamavOptions(config, hooks))] : []),
    new PooledScanner(new YaraScanner(rules), pool),
    ...(virustotal ? [virustotal] : []),
    new PooledScanner(new AnalysisScanner(), pool),
  ];
  const pipeline = new ScanPipeline({
    scanners,
    timeoutsMs: {
      validation: config.timeouts.validationMs,
      // Above clamd's own timeout so that clamd's answer, not ours, decides when it is slow.
      clamav: config.clamav.timeoutMs + 1000,
      yara: config.yara.timeoutMs,
      analysis: config.timeouts.analysisMs,
      // A lookup, and with uploads an upload URL and the upload itself.
      virustotal: vt ? (vt.uploadEnabled ? 2 * vt.timeoutMs + vt.uploadTimeoutMs : vt.timeoutMs) + 1000 : 0,
    },
    cache: new ResultCache(config.resultCache.maxEntries, config.resultCache.ttlMs),
    tmpDir: config.tmpDir,
    configHash: scanConfigHash(config),
  });
  return {
    pipeline,
    clamd,
    rules,
    virustotal,
    pool,
    close: () => {
      clamd.close();
      return pool.close();
    },
  };
}

/** With CLAMAV_SCAN_MODE=path, clamd reads the stored files; a refusal is counted each time, logged once, and the file streamed. */
function clamavOptions(config: Config, { log, onPathRefused: count }: ScanEngineHooks): ClamavOptions {
  if (config.clamav.scanMode === "stream") return { dbDir: config.clamav.dbDir };
  let told = false;
  const onPathRefused = (reply: string) => {
    count?.();
    if (told) return;
    told = true;
    log?.warn({ reply }, "clamd may not read the stored files, so they are streamed to it; see CLAMAV_SCAN_MODE in docs/configuration.md");
  };
  return { dbDir: config.clamav.dbDir, sharedDir: filesDirOf(config.dataDir), onPathRefused };
}

export function clamdClientFor(config: Config): ClamdClient {
  return new ClamdClient({ host: config.clamav.host, port: config.clamav.port, timeoutMs: config.clamav.timeoutMs });
}

/** Only what changes a verdict: secrets and service settings stay out of results. */
function scanConfigHash(config: Config): string {
  const { clamav, yara, timeouts, allowedFileTypes, limits, tiers } = config;
  const virustotal = config.virustotal?.thresholds ?? null;
  return createHash("sha256").update(JSON.stringify({ clamav, yara, timeouts, allowedFileTypes, limits, tiers, virustotal })).digest("hex").slice(0, 16);
}
