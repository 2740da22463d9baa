import pino, { type Logger } from "pino";

export type { Logger };

/**
 * Structured JSON logs. Callers log ids and hashes, never file names, DICOM tags or content:
 * the logger is shared by every part, so nothing here can know what is patient data.
 */
export function createLogger(level: pino.LevelWithSilent = "info"): Logger {
  return pino({ level, base: { service: "medical-scan-daemon" } });
}
