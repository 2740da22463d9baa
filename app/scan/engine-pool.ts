import os from "node:os";
import { MessageChannel, type MessagePort } from "node:worker_threads";
import { Piscina } from "piscina";
import { EngineError, type EngineErrorCode } from "../errors/engine-error.ts";
import { RejectedInputError, type RejectedInputCode } from "../errors/rejected-input-error.ts";
import type { ScanLimits } from "../config.ts";
import type { FileKind } from "../verdict/file-kind.ts";
import type { Tier, TierLimits } from "../verdict/tiers.ts";
import type { EngineVersion, FileFacts, ScanContext, ScanOutcome, ScanRequest, Scanner, ScanTarget } from "./scanner.ts";
import { WarmLanes } from "./warm-lanes.ts";

/** What every engine thread is started with: enough to build the same scanners as the main thread. */
export interface ThreadSetup {
  readonly allowedFileTypes: readonly FileKind[];
  readonly limits: ScanLimits;
  readonly tiers: Readonly<Record<Tier, TierLimits>>;
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
  /** Receives the engine's progress as a fraction, at most once per percent; absent for a small file. */
  readonly progress?: MessagePort;
}

/** Errors do not cross threads with their class: they come back as data and are made again. */
export type EngineReply =
  | { readonly ok: true; readonly outcome: ScanOutcome }
  | { readonly ok: false; readonly error: { readonly kind: "engine" | "rejected" | "other"; readonly code: string; readonly message: string; readonly retryable: boolean } };

/** Below this an engine takes milliseconds and reports no progress of its own: a channel per task cost more than its share of the scan. */
const PROGRESS_MIN_BYTES = 1024 * 1024;
/** Heap per engine thread: a parse that runs away with memory ends its thread, not the process. */
const THREAD_HEAP_MB = 512;
/** Engine threads yield the CPU to the process's own event loop and to intake. */
const THREAD_NICE = 10;
/** A task running this long is taken for a big or hostile file: the tasks behind it go on to other threads. */
const HELD_AFTER_MS = 25;

/**
 * The worker threads that run validation, YARA-X and analysis. A task whose signal aborts (the
 * pipeline's deadline for that engine) has its thread terminated and replaced: the runaway
 * parse stops, and the engine's result is the timeout the pipeline already recorded.
 */
export class EnginePool {
  private readonly piscina: Piscina<EngineTask, EngineReply>;
  /** Small scans run on as many threads as there are cores (piscina gives a task the first idle thread). */
  private readonly lanes: WarmLanes;

  /** `threadFile`: the module a thread runs (service/engine-thread), whose default export takes an EngineTask. */
  constructor(threadFile: string, setup: ThreadSetup, threads: number) {
    this.piscina = new Piscina({
      filename: threadFile,
      workerData: setup,
      // All started at once and kept (none is above the minimum, so none idles out): a thread's
      // start (modules, YARA rules) takes longer than a small scan.
      minThreads: threads,
      maxThreads: threads,
      concurrentTasksPerWorker: 1,
      atomics: "disabled",
      niceIncrement: THREAD_NICE,
      resourceLimits: { maxOldGenerationSizeMb: THREAD_HEAP_MB },
    });
    this.lanes = new WarmLanes(Math.min(threads, os.availableParallelism()), HELD_AFTER_MS);
  }

  /** The engine's scan, run in a pool thread; errors come back as the classes the pipeline maps. */
  async scan(engine: ThreadEngine, ctx: ScanContext): Promise<ScanOutcome> {
    const size = ctx.request.digest?.size ?? ctx.facts?.size;
    const channel = size === undefined || size >= PROGRESS_MIN_BYTES ? new MessageChannel() : null;
    channel?.port1.on("message", (fraction: number) => ctx.progress(fraction));
    try {
      const task: EngineTask = { engine, request: ctx.request, file: ctx.file, targets: ctx.targets, facts: ctx.facts, workDirPath: ctx.workDirPath, progress: channel?.port2 };
      const reply = await this.lanes.run(() => this.piscina.run(task, { transferList: channel ? [channel.port2] : [], signal: ctx.signal }));
      if (reply.ok) return reply.outcome;
      const { kind, code, message, retryable } = reply.error;
      if (kind === "engine") throw new EngineError(code as EngineErrorCode, message, retryable);
      if (kind === "rejected") throw new RejectedInputError(code as RejectedInputCode, message);
      throw new Error(message);
    } finally {
      channel?.port1.close();
    }
  }

  /** The engine threads running now; a thread ended at a deadline is replaced by a new one. */
  threadIds(): number[] {
    return this.piscina.threads.map((t) => t.threadId);
  }

  close(): Promise<void> {
    return this.piscina.destroy();
  }
}

/** A scanner whose versions are known here and whose scans run in the pool. */
export class PooledScanner implements Scanner {
  readonly name: ThreadEngine;

  constructor(
    private readonly local: Scanner & { readonly name: ThreadEngine },
    private readonly pool: Pick<EnginePool, "scan">,
  ) {
    this.name = local.name;
  }

  version(request: ScanRequest, fresh?: boolean): Promise<EngineVersion> {
    return this.local.version(request, fresh);
  }

  scan(ctx: ScanContext): Promise<ScanOutcome> {
    return this.pool.scan(this.name, ctx);
  }
}
