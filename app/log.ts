import path from "node:path";
import pino, { type Logger } from "pino";

export type { Logger };

export const LOG_FILE = "scan-daemon.log";
export const ERROR_LOG_FILE = "scan-errors.log";

/**
 * Structured JSON logs. Callers log ids and hashes, never file names, DICOM tags or content:
 * the logger is shared by every part, so nothing here can know what is patient data.
 * With `logDir`, lines also go to logDir/scan-daemon.log and errors to logDir/scan-errors.log,
 * written synchronously so that the last lines before a crash are on disk.
 */
export function createLogger(level: pino.LevelWithSilent = "info", logDir?: string): Logger {
  const base = { service: "medical-scan-daemon" };
  if (!logDir || level === "silent") return pino({ level, base });
  const file = (name: string) => pino.destination({ dest: path.join(logDir, name), mkdir: true, sync: true });
  return pino(
    { level, base },
    pino.multistream([
      { level, stream: process.stdout },
      { level, stream: file(LOG_FILE) },
      { level: "error", stream: file(ERROR_LOG_FILE) },
    ]),
  );
}
