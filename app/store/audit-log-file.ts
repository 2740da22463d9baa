import { closeSync, fdatasyncSync, fstatSync, mkdirSync, openSync, statSync, writeSync } from "node:fs";
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
 *
 * The stat, write and flush run on the calling thread, not in libuv's pool: they run under the
 * store's write lock, which every process's writes wait for, and each trip through the pool
 * holds that lock for another turn of a busy event loop besides the disk's time (BENCHMARKS.md).
 */
export class AuditLogFile {
  private queued: QueuedLine[] = [];
  private scheduled = false;
  private open: { fd: number; dev: number; ino: number } | null = null;

  constructor(readonly path: string) {}

  static inDir(logDir: string): AuditLogFile {
    return new AuditLogFile(path.join(logDir, AUDIT_LOG_NAME));
  }

  append(line: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queued.push({ line, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        void this.flush();
      }
    });
  }

  private async flush(): Promise<void> {
    // Lines appended in the same turn of the event loop join the first one.
    await Promise.resolve();
    const batch = this.queued.splice(0);
    this.scheduled = false;
    try {
      this.write(batch.map((q) => `${q.line}\n`).join(""));
      for (const q of batch) q.resolve();
    } catch (err) {
      for (const q of batch) q.reject(err);
    }
  }

  private write(text: string): void {
    const fd = this.current();
    const bytes = Buffer.from(text);
    // A short write (a disk nearly full, a signal) leaves the rest to write from where it stopped.
    for (let written = 0; written < bytes.length; ) written += writeSync(fd, bytes, written);
    fdatasyncSync(fd);
  }

  private current(): number {
    const named = statSync(this.path, { throwIfNoEntry: false });
    if (this.open && named?.dev === this.open.dev && named.ino === this.open.ino) return this.open.fd;
    this.closeHeld();
    mkdirSync(path.dirname(this.path), { recursive: true, mode: 0o750 });
    const fd = openSync(this.path, "a", 0o640);
    try {
      const { dev, ino } = fstatSync(fd);
      this.open = { fd, dev, ino };
      return fd;
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  private closeHeld(): void {
    const was = this.open;
    this.open = null;
    if (was) closeSync(was.fd);
  }

  close(): Promise<void> {
    this.closeHeld();
    return Promise.resolve();
  }
}
