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

/** `VERBOSE=true` or a `DEBUG` naming scan-daemon (`DEBUG=scan-daemon:*`) raise the level to debug. */
export function logLevelFrom(env: NodeJS.ProcessEnv): pino.Level {
  return env.VERBOSE === "true" || /(^|,)\s*scan-daemon(:|\*|,|$)/.test(env.DEBUG ?? "") ? "debug" : "info";
}

/**
 * Structured JSON logs. Callers log ids and hashes, never file names, DICOM tags or content:
 * the logger is shared by every part, so nothing here can know what is patient data.
 * With `logDir`, lines also go to rotated files there: scan-daemon.log (all), scan-errors.log
 * (errors), queue.log (lines of the queue component) and queue-errors.log (its errors).
 */
export function createLogger(level: pino.LevelWithSilent = "info", logDir?: string, rotation: Rotation = DEFAULT_ROTATION): Logger {
  const base = { service: "medical-scan-daemon" };
  if (!logDir || level === "silent") return pino({ level, base });
  const file = (name: string, accept?: (line: string) => boolean) => new RotatingFile(path.join(logDir, name), rotation, accept);
  const queue = (line: string) => line.includes('"component":"queue"');
  return pino(
    { level, base },
    pino.multistream([
      { level, stream: process.stdout },
      { level, stream: file(LOG_FILE) },
      { level: "error", stream: file(ERROR_LOG_FILE) },
      { level, stream: file(QUEUE_LOG_FILE, queue) },
      { level: "error", stream: file(QUEUE_ERROR_LOG_FILE, queue) },
    ]),
  );
}
