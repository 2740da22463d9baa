import { EngineError } from "../errors/engine-error.ts";
import { forClients } from "../errors/redact.ts";
import { RejectedInputError } from "../errors/rejected-input-error.ts";
import { capFindings, type Finding } from "../verdict/findings.ts";
import { ResultCache } from "./result-cache.ts";
import { madeOnFirstUse, removeScratch, scratchPath } from "./scratch.ts";
import type { EngineVersion, FileFacts, ScanContext, ScanOutcome, ScanRequest, Scanner, ScanTarget } from "./scanner.ts";
import type { ScanResult } from "../verdict/scan-result.ts";
import { ADVISORY_ENGINES, scoreFindings, type EngineRun } from "../verdict/scoring.ts";
import { TIER_POLICIES, type EngineName, type Tier } from "../verdict/tiers.ts";

export interface PipelineOptions {
  /** In tier-table order; validation first. */
  readonly scanners: readonly Scanner[];
  readonly timeoutsMs: Readonly<Partial<Record<EngineName, number>>>;
  readonly cache: ResultCache;
  readonly tmpDir: string;
  readonly configHash: string;
}

export type ProgressListener = (percent: number) => void;

/**
 * Runs validation, then the tier's other engines over the file and everything validation
 * derived from it, each under its own timeout, and scores what they found. Fails closed: an
 * engine that throws, times out or is missing makes the result `error` unless another engine
 * already proved it infected.
 */
export class ScanPipeline {
  private readonly byName: ReadonlyMap<EngineName, Scanner>;

  constructor(private readonly options: PipelineOptions) {
    this.byName = new Map(options.scanners.map((s) => [s.name, s]));
    if (options.scanners[0]?.name !== "validation") throw new Error("the pipeline's first scanner must be validation");
  }

  async scan(request: ScanRequest, onProgress: ProgressListener = () => {}): Promise<ScanResult> {
    const started = performance.now();
    // Made only when an engine derives content; an engine thread may make it too, so it is removed either way.
    const scratch = scratchPath(this.options.tmpDir, "scan");
    try {
      return await this.run(request, { workDir: madeOnFirstUse(scratch), workDirPath: scratch }, started, monotonic(onProgress));
    } finally {
      await removeScratch(scratch);
    }
  }

  private async run(request: ScanRequest, scratch: Pick<ScanContext, "workDir" | "workDirPath">, started: number, progress: ProgressListener): Promise<ScanResult> {
    const names = TIER_POLICIES[request.tier].engines;
    const file: ScanTarget = { label: "file", path: request.path, role: "file" };
    const targets: ScanTarget[] = [file];
    const findings: Finding[] = [];
    const engines: Partial<Record<EngineName, EngineRun>> = {};
    let facts: FileFacts | undefined;
    const share = 100 / names.length;

    const rest = names.slice(1).filter((n) => this.byName.has(n) || !ADVISORY_ENGINES.includes(n));
    // Versions do not depend on the file: ask for them while validation reads it.
    const versionsAsked = this.versions(rest, request);
    const validation = await this.runEngine("validation", request, { file, targets, facts, ...scratch }, (f) => progress(f * share));
    engines.validation = validation.run;
    if (validation.outcome) {
      findings.push(...validation.outcome.findings);
      targets.push(...(validation.outcome.artifacts ?? []));
      facts = validation.outcome.facts;
    }

    let versions = await versionsAsked;
    if (facts) {
      const { sha256 } = facts;
      const keyFor = (v: typeof versions) => (v.cacheable && !request.bypassCache ? ResultCache.key({ sha256, tier: request.tier, tenantId: request.tenantId, versions: v.found }) : null);
      let key = keyFor(versions);
      let cached = key ? this.options.cache.get(key) : undefined;
      if (cached) {
        // Served only on versions asked just now: every engine is up and has what the verdict was made with.
        versions = await this.versions(rest, request, true);
        key = keyFor(versions);
        cached = key ? this.options.cache.get(key) : undefined;
      }
      if (cached) {
        findings.push(...cached.findings);
        for (const [name, run] of Object.entries(cached.engines)) engines[name as EngineName] = { ...run, cached: true };
      } else {
        // Only validation derives content; the engines after it read the same targets and none
        // needs another's answer, so they run side by side and report in tier order.
        const fractions = rest.map(() => 0);
        const runs = await Promise.all(
          rest.map((name, i) =>
            this.runEngine(name, request, { file, targets, facts, ...scratch }, (f) => {
              fractions[i] = f;
              progress((1 + fractions.reduce((a, b) => a + b, 0)) * share);
            }, versions.found[name]),
          ),
        );
        const fresh: Finding[] = [];
        for (const [i, name] of rest.entries()) {
          engines[name] = runs[i]!.run;
          fresh.push(...(runs[i]!.outcome?.findings ?? []));
        }
        findings.push(...fresh);
        if (key && rest.every((n) => engines[n]?.ran && !engines[n]?.error)) {
          this.options.cache.set(key, { findings: fresh, engines: Object.fromEntries(rest.map((n) => [n, engines[n]!])) });
        }
      }
    } else {
      for (const name of rest) engines[name] = { ran: false, ms: 0, error: { code: "SKIPPED", message: "validation did not complete", retryable: false } };
    }

    const listed = capFindings(findings);
    const verdict = scoreFindings(listed, engines, request.tier);
    const incomplete = ADVISORY_ENGINES.filter((n) => names.includes(n) && (!engines[n]?.ran || engines[n]?.error)).map((engine) => ({
      engine,
      code: engines[engine]?.error?.code ?? "ENGINE_NOT_CONFIGURED",
      reason: engines[engine]?.error?.message ?? `${engine} is not configured`,
    }));
    progress(100);
    return {
      ...verdict,
      findings: listed,
      engines,
      sha256: facts?.sha256 ?? null,
      fileType: facts?.mime ?? null,
      scanTimeMs: Math.round(performance.now() - started),
      configHash: this.options.configHash,
      ...(incomplete.length > 0 ? { incomplete } : {}),
    };
  }

  /** The final result of a scan that never gave one (a job that stalled or timed out for good). */
  failure(tier: Tier, sha256: string, code: string, message: string): ScanResult {
    const engines = { validation: { ran: false, ms: 0, error: { code, message, retryable: false } } };
    return { ...scoreFindings([], engines, tier), findings: [], engines, sha256, fileType: null, scanTimeMs: 0, configHash: this.options.configHash };
  }

  /** Every engine's version; cacheable only when every engine could prove its versions. */
  private async versions(names: readonly EngineName[], request: ScanRequest, fresh = false): Promise<{ found: Partial<Record<EngineName, EngineVersion>>; cacheable: boolean }> {
    const found: Partial<Record<EngineName, EngineVersion>> = {};
    let cacheable = true;
    await Promise.all(
      names.map(async (name) => {
        const scanner = this.byName.get(name);
        const version = scanner ? await scanner.version(request, fresh).catch(() => null) : null;
        if (version) found[name] = version;
        if (!version?.cacheable) cacheable = false;
      }),
    );
    return { found, cacheable };
  }

  private async runEngine(
    name: EngineName,
    request: ScanRequest,
    state: Pick<ScanContext, "file" | "targets" | "facts" | "workDir" | "workDirPath">,
    progress: (fraction: number) => void,
    known?: EngineVersion,
  ): Promise<{ run: EngineRun; outcome?: ScanOutcome }> {
    const scanner = this.byName.get(name);
    if (!scanner) return { run: { ran: false, ms: 0, error: { code: "ENGINE_NOT_CONFIGURED", message: `${name} is not configured`, retryable: false } } };
    const timeoutMs = this.options.timeoutsMs[name] ?? 60_000;
    const controller = new AbortController();
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new EngineError("ENGINE_TIMEOUT", `${name} did not finish within ${timeoutMs} ms`, true);
        controller.abort(err);
        reject(err);
      }, timeoutMs);
    });
    const ctx: ScanContext = { request, ...state, targets: [...state.targets], signal: controller.signal, progress: (f) => progress(Math.max(0, Math.min(1, f))) };
    try {
      const outcome = await Promise.race([scanner.scan(ctx), timeout]);
      const ms = Math.round(performance.now() - started);
      // An engine that blocks the event loop (YARA-X does much of its work on the main thread)
      // can return before the timer gets to fire: a late answer is a timeout all the same.
      if (ms > timeoutMs) throw new EngineError("ENGINE_TIMEOUT", `${name} took ${ms} ms, over its ${timeoutMs} ms limit`, true);
      const version = known ?? (await scanner.version(request).catch(() => undefined));
      return { run: { ran: true, ms, version: version?.label, ...(version?.development ? { signatures: "development" as const } : {}) }, outcome };
    } catch (err) {
      controller.abort(err);
      const ms = Math.round(performance.now() - started);
      return { run: { ran: false, ms, version: known?.label, error: describe(err) } };
    } finally {
      clearTimeout(timer);
      // An engine that reports nothing of its own (a small file's) still moves the bar when it is done.
      progress(1);
    }
  }
}

/** An engine's failure as the result shows it to clients: no path or address of this installation. */
function describe(err: unknown): NonNullable<EngineRun["error"]> {
  if (err instanceof EngineError || err instanceof RejectedInputError) return { code: err.code, message: forClients(err.message), retryable: err.retryable };
  return { code: "ENGINE_FAILED", message: forClients(err instanceof Error ? err.message : String(err)), retryable: true };
}

function monotonic(listener: ProgressListener): ProgressListener {
  let last = -1;
  return (percent) => {
    const p = Math.min(100, Math.floor(percent));
    if (p > last) {
      last = p;
      listener(p);
    }
  };
}
