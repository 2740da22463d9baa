import { workerData } from "node:worker_threads";
import { EngineError } from "../errors/engine-error.ts";
import { RejectedInputError } from "../errors/rejected-input-error.ts";
import { capFindings } from "../verdict/findings.ts";
import { AnalysisScanner } from "../engines/analysis/analysis-scanner.ts";
import type { EngineReply, EngineTask, ThreadEngine, ThreadSetup } from "../scan/engine-pool.ts";
import { madeOnFirstUse } from "../scan/scratch.ts";
import type { ScanContext, Scanner } from "../scan/scanner.ts";
import { ValidationScanner } from "../engines/validation/validation-scanner.ts";
import { YaraScanner } from "../engines/yara/yara-scanner.ts";
import { loadRuleBook } from "../engines/yara/yara-rules.ts";

const setup = workerData as ThreadSetup;
const scanners: Promise<Record<ThreadEngine, Scanner>> = loadRuleBook(setup.rulesDir, setup.customRulesDir).then((book) => ({
  validation: new ValidationScanner(setup.allowedFileTypes, setup.limits, setup.tiers),
  yara: new YaraScanner(book),
  analysis: new AnalysisScanner(),
}));

/**
 * The pool ends this thread at a task's deadline, so nothing here aborts a task: one signal
 * that never aborts serves every task (an AbortController costs tens of microseconds to make).
 */
const NEVER_ABORTED = new AbortController().signal;

/**
 * One engine's work on uploaded bytes, in a pool thread: parsing, YARA-X and analysis never
 * run on an event loop that serves anything, and the pool ends this thread at the engine's
 * deadline, which stops the work itself.
 */
export default async function runEngineTask(task: EngineTask): Promise<EngineReply> {
  let lastPercent = -1;
  const ctx: ScanContext = {
    request: task.request,
    file: task.file,
    targets: task.targets,
    facts: task.facts,
    workDirPath: task.workDirPath,
    workDir: madeOnFirstUse(task.workDirPath),
    signal: NEVER_ABORTED,
    progress(fraction) {
      const percent = Math.floor(fraction * 100);
      if (percent <= lastPercent) return;
      lastPercent = percent;
      task.progress?.postMessage(fraction);
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
    task.progress?.close();
  }
}
