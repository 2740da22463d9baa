import { mkdir, open } from "node:fs/promises";
import path from "node:path";

export const AUDIT_LOG_NAME = "scan-audit.log";

/**
 * logs/scan-audit.log: one JSON line per audit row, appended and flushed to disk before the
 * row commits. Opened per line, so a rotated or moved file is never written behind its back.
 */
export class AuditLogFile {
  constructor(readonly path: string) {}

  static inDir(logDir: string): AuditLogFile {
    return new AuditLogFile(path.join(logDir, AUDIT_LOG_NAME));
  }

  async append(line: string): Promise<void> {
    await mkdir(path.dirname(this.path), { recursive: true, mode: 0o750 });
    const handle = await open(this.path, "a", 0o640);
    try {
      await handle.write(`${line}\n`);
      await handle.datasync();
    } finally {
      await handle.close();
    }
  }
}
