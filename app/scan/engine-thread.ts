import { mkdir } from "node:fs/promises";
import type { MessagePort } from "node:worker_threads";
import { workerData } from "node:worker_threads";
import type { ScanLimits } from "../config.ts";
import { EngineError } from "../errors/engine-error.ts";
import { RejectedInputError } from "../errors/rejected-input-error.ts";
import { capFindings } from "../verdict/findings.ts";
import { AnalysisScanner } from "../engines/analysis/analysis-scanner.ts";
import type { FileFacts, ScanContext, ScanOutcome, ScanRequest, Scanner, ScanTarget } from "./scanner.ts";
import { ValidationScanner } from "../engines/validation/validation-scanner.ts";
import { YaraScanner } from "../engines/yara/yara-scanner.ts";
import type { FileKind } from "../engines/validation/file-kinds.ts";
import { loadRuleBook } from "../engines/yara/yara-rules.ts";

/** What every engine thread is started with: enough to build the same scanners as the main thread. */
export interface ThreadSetup {
  readonly allowedFileTypes: readonly FileKind[];
  readonly limits: ScanLimits;
  readonly rulesDir: string;
  readonly customRulesDir?: string;
}

export type ThreadEngine = "validation" | "yara" | "analysis";

export interface EngineTask {
  readonly engine: ThreadEngine;
  readonly request: ScanRequest;
  readonly file: ScanTarget;
  readonly targets: readonly ScanTarget[];
  readonly facts: FileFacts | undefined;
  readonly workDirPath: string;
  /** Receives the engine's progress as a fraction, at most once per percent. */
  readonly progress: MessagePort;
}

/** Errors do not cross threads with their class: they come back as data and are made again. */
export type EngineReply =
  | { readonly ok: true; readonly outcome: ScanOutcome }
  | { readonly ok: false; readonly error: { readonly kind: "engine" | "rejected" | "other"; readonly code: string; readonly message: string; readonly retryable: boolean } };

const setup = workerData as ThreadSetup;
const scanners: Promise<Record<ThreadEngine, Scanner>> = loadRuleBook(setup.rulesDir, setup.customRulesDir).then((book) => ({
  validation: new ValidationScanner(setup.allowedFileTypes, setup.limits),
  yara: new YaraScanner(book),
  analysis: new AnalysisScanner(),
}));

/**
 * One engine's work on uploaded bytes, in a pool thread: parsing, YARA-X and analysis never
 * run on an event loop that serves anything, and the pool ends this thread at the engine's
 * deadline, which stops the work itself.
 */
export default async function runEngineTask(task: EngineTask): Promise<EngineReply> {
  let made: Promise<string> | null = null;
  let lastPercent = -1;
  const ctx: ScanContext = {
    request: task.request,
    file: task.file,
    targets: task.targets,
    facts: task.facts,
    workDirPath: task.workDirPath,
    workDir: () => (made ??= mkdir(task.workDirPath, { recursive: true, mode: 0o700 }).then(() => task.workDirPath)),
    signal: new AbortController().signal,
    progress(fraction) {
      const percent = Math.floor(fraction * 100);
      if (percent <= lastPercent) return;
      lastPercent = percent;
      task.progress.postMessage(fraction);
    },
  };
  try {
    const outcome = await (await scanners)[task.engine].scan(ctx);
    // Capped here too, so a hundred thousand findings never cross to the main thread.
    return { ok: true, outcome: { ...outcome, findings: capFindings(outcome.findings) } };
  } catch (err) {
    if (err instanceof EngineError) return { ok: false, error: { kind: "engine", code: err.code, message: err.message, retryable: err.retryable } };
    if (err instanceof RejectedInputError) return { ok: false, error: { kind: "rejected", code: err.code, message: err.message, retryable: false } };
    return { ok: false, error: { kind: "other", code: "ENGINE_FAILED", message: err instanceof Error ? err.message : String(err), retryable: true } };
  } finally {
    task.progress.close();
  }
}
