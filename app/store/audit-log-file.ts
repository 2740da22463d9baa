import { mkdir, open, stat, type FileHandle } from "node:fs/promises";
import path from "node:path";

export const AUDIT_LOG_NAME = "scan-audit.log";

interface QueuedLine {
  readonly line: string;
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * logs/scan-audit.log: one JSON line per audit row, appended and flushed to disk before the
 * row commits. Lines appended together (one group commit's) go out in one write and one
 * fdatasync, in the order they were appended. Kept open, but reopened when the path no longer
 * names the open file (rotated, moved or removed), so such a file is never written behind its
 * back: one stat per write instead of a mkdir, open and close.
 */
export class AuditLogFile {
  private queued: QueuedLine[] = [];
  private flushing = false;
  private open: { handle: FileHandle; dev: number; ino: number } | null = null;

  constructor(readonly path: string) {}

  static inDir(logDir: string): AuditLogFile {
    return new AuditLogFile(path.join(logDir, AUDIT_LOG_NAME));
  }

  append(line: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queued.push({ line, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        void this.flush();
      }
    });
  }

  private async flush(): Promise<void> {
    // Lines appended in the same turn of the event loop join the first one.
    await Promise.resolve();
    try {
      while (this.queued.length > 0) {
        const batch = this.queued.splice(0);
        try {
          await this.write(batch.map((q) => `${q.line}\n`).join(""));
          for (const q of batch) q.resolve();
        } catch (err) {
          for (const q of batch) q.reject(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private async write(text: string): Promise<void> {
    const { handle } = await this.current();
    await handle.write(text);
    await handle.datasync();
  }

  private async current(): Promise<{ handle: FileHandle }> {
    const named = await stat(this.path).catch(() => null);
    if (this.open && named?.dev === this.open.dev && named.ino === this.open.ino) return this.open;
    await this.close();
    await mkdir(path.dirname(this.path), { recursive: true, mode: 0o750 });
    const handle = await open(this.path, "a", 0o640);
    const { dev, ino } = await handle.stat().catch(async (err: unknown) => {
      await handle.close();
      throw err;
    });
    this.open = { handle, dev, ino };
    return this.open;
  }

  async close(): Promise<void> {
    const was = this.open;
    this.open = null;
    await was?.handle.close();
  }
}
