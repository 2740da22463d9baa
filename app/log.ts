import path from "node:path";
import pino, { type Logger } from "pino";
import { RotatingFile, type Rotation } from "./rotating-file.ts";

export type { Logger };

export const LOG_FILE = "scan-daemon.log";
export const ERROR_LOG_FILE = "scan-errors.log";
/** Job processing (the worker's lines), and of those the failures. */
export const QUEUE_LOG_FILE = "queue.log";
export const QUEUE_ERROR_LOG_FILE = "queue-errors.log";

/** Loggers of the queue's processing carry this; their lines also go to queue.log. */
export const QUEUE_COMPONENT = { component: "queue" } as const;

const DEFAULT_ROTATION: Rotation = { maxBytes: 10 * 1024 * 1024, keep: 5 };
/** Beside the files, stdout gets its lines in writes of this size, or after this long. */
const STDOUT_BATCH_BYTES = 4096;
const STDOUT_BATCH_MS = 250;

/** `VERBOSE=true` or a `DEBUG` naming scan-daemon (`DEBUG=scan-daemon:*`) raise the level to debug. */
export function logLevelFrom(env: NodeJS.ProcessEnv): pino.Level {
  return env.VERBOSE === "true" || /(^|,)\s*scan-daemon(:|\*|,|$)/.test(env.DEBUG ?? "") ? "debug" : "info";
}

/**
 * Structured JSON logs. Callers log ids and hashes, never file names, DICOM tags or content:
 * the logger is shared by every part, so nothing here can know what is patient data.
 * With `logDir`, lines also go to rotated files there: scan-daemon.log (all), scan-errors.log
 * (errors), queue.log (lines of the queue component) and queue-errors.log (its errors); those
 * are written line by line, and stdout then gets the same lines in batches (batchedStdout).
 */
export function createLogger(level: pino.LevelWithSilent = "info", logDir?: string, rotation: Rotation = DEFAULT_ROTATION): Logger {
  const base = { service: "medical-scan-daemon" };
  if (!logDir || level === "silent") return pino({ level, base });
  const file = (name: string, accept?: (line: string) => boolean) => new RotatingFile(path.join(logDir, name), rotation, accept);
  const queue = (line: string) => line.includes('"component":"queue"');
  return pino(
    { level, base },
    pino.multistream([
      { level, stream: batchedStdout() },
      { level, stream: file(LOG_FILE) },
      { level: "error", stream: file(ERROR_LOG_FILE) },
      { level, stream: file(QUEUE_LOG_FILE, queue) },
      { level: "error", stream: file(QUEUE_ERROR_LOG_FILE, queue) },
    ]),
  );
}

/**
 * stdout, written a batch at a time. Under supervisord each write to it costs a read, a parse
 * and a write of supervisord's own: line by line, the two lines of an upload took 0.3 ms of
 * supervisord's CPU (BENCHMARKS.md, seventeenth session), for lines LOG_DIR's files hold
 * already. A batch goes out when it reaches STDOUT_BATCH_BYTES, STDOUT_BATCH_MS after its first
 * line, or as the process exits.
 */
function batchedStdout(): { write(line: string): void } {
  const out = pino.destination({ dest: 1, sync: true, minLength: STDOUT_BATCH_BYTES });
  let timer: NodeJS.Timeout | null = null;
  // A stdout nobody reads any more (EPIPE) must not end the process: the files hold the lines.
  out.on("error", () => undefined);
  process.once("exit", () => {
    try {
      out.flushSync();
    } catch {
      // stdout gone: see above.
    }
  });
  return {
    write(line) {
      out.write(line);
      timer ??= setTimeout(() => {
        timer = null;
        out.flush();
      }, STDOUT_BATCH_MS).unref();
    },
  };
}
