import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import path from "node:path";

export interface Rotation {
  /** A file reaching this size is renamed to NAME.1 (NAME.1 to NAME.2, ...) and started afresh. */
  readonly maxBytes: number;
  /** Rotated files kept; the oldest goes. */
  readonly keep: number;
}

/**
 * An append-only log file with size rotation, written synchronously so that the last lines
 * before a crash are on disk. Hand-written because the rotating pino transports run in a
 * worker thread (lines are lost on a crash) and rename the live file with a number, while
 * operators and the health check expect logs/queue.log and its peers under fixed names.
 */
export class RotatingFile {
  private fd: number;
  private size: number;

  constructor(
    private readonly file: string,
    private readonly rotation: Rotation,
    /** Only lines this accepts are written (a filter on the JSON line). */
    private readonly accept: (line: string) => boolean = () => true,
  ) {
    mkdirSync(path.dirname(file), { recursive: true });
    this.fd = openSync(file, "a", 0o640);
    this.size = statSync(file).size;
  }

  write(line: string): void {
    if (!this.accept(line)) return;
    const bytes = Buffer.byteLength(line);
    if (this.size > 0 && this.size + bytes > this.rotation.maxBytes) this.rotate();
    writeSync(this.fd, line);
    this.size += bytes;
  }

  private rotate(): void {
    closeSync(this.fd);
    rmSync(`${this.file}.${this.rotation.keep}`, { force: true });
    for (let i = this.rotation.keep - 1; i >= 1; i--) {
      if (existsSync(`${this.file}.${i}`)) renameSync(`${this.file}.${i}`, `${this.file}.${i + 1}`);
    }
    renameSync(this.file, `${this.file}.1`);
    this.fd = openSync(this.file, "a", 0o640);
    this.size = 0;
  }
}
