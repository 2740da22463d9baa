import { closeSync, existsSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import path from "node:path";

export interface Rotation {
  /** A file reaching this size is renamed to NAME.1 (NAME.1 to NAME.2, ...) and started afresh. */
  readonly maxBytes: number;
  /** Rotated files kept; the oldest goes. */
  readonly keep: number;
}

/** How often, in parts of `maxBytes` written, a writer looks at the size the others made. */
const LOOKS_PER_FILE = 8;
/** A writer that writes little still looks this often, so its lines follow a rotation. */
const LOOK_EVERY_MS = 1000;
/** A rotation lock older than this was left by a writer that died while rotating. */
const STALE_LOCK_MS = 30_000;

/**
 * An append-only log file with size rotation, written synchronously so that the last lines
 * before a crash are on disk. Hand-written because the rotating pino transports run in a
 * worker thread (lines are lost on a crash) and rename the live file with a number, while
 * operators and the health check expect logs/queue.log and its peers under fixed names.
 *
 * Several processes append to the same files (the appliance's intake and worker, the CLI). A
 * writer goes by the file's real size, looked at every eighth of `maxBytes` it writes, every
 * second and before it rotates; it follows a rotation another writer made; and it rotates only
 * under NAME.rotating (made with O_EXCL), and only the file it still holds, so that two writers
 * never shift the numbered files at once (the second would overwrite the first's NAME.1).
 */
export class RotatingFile {
  private fd: number;
  /** The file's size when last looked at, plus what this writer has written since. */
  private size = 0;
  private writtenSinceLook = 0;
  private lookedAt = 0;

  constructor(
    private readonly file: string,
    private readonly rotation: Rotation,
    /** Only lines this accepts are written (a filter on the JSON line). */
    private readonly accept: (line: string) => boolean = () => true,
  ) {
    mkdirSync(path.dirname(file), { recursive: true });
    this.fd = this.open();
  }

  write(line: string): void {
    if (!this.accept(line)) return;
    const bytes = Buffer.byteLength(line);
    const { maxBytes } = this.rotation;
    if (this.size + bytes > maxBytes || this.writtenSinceLook + bytes > maxBytes / LOOKS_PER_FILE || Date.now() - this.lookedAt > LOOK_EVERY_MS) {
      this.look();
      if (this.size > 0 && this.size + bytes > maxBytes) this.rotate();
    }
    writeSync(this.fd, line);
    this.size += bytes;
    this.writtenSinceLook += bytes;
  }

  /** The real size of the file under this name, reopened if another writer has rotated it. */
  private look(): void {
    if (this.holdsNamedFile()) {
      this.size = fstatSync(this.fd).size;
      this.writtenSinceLook = 0;
      this.lookedAt = Date.now();
    } else {
      this.reopen();
    }
  }

  private rotate(): void {
    const lock = `${this.file}.rotating`;
    // Another writer rotating now: this line goes to the file held, the next look follows.
    if (!takeLock(lock)) return;
    try {
      if (this.holdsNamedFile()) {
        let top = 1;
        while (top < this.rotation.keep && existsSync(`${this.file}.${top}`)) top++;
        for (let i = top - 1; i >= 1; i--) renameIfThere(`${this.file}.${i}`, `${this.file}.${i + 1}`);
        renameIfThere(this.file, `${this.file}.1`);
      }
    } finally {
      rmSync(lock, { force: true });
    }
    this.reopen();
  }

  private holdsNamedFile(): boolean {
    const named = statSync(this.file, { throwIfNoEntry: false });
    const held = fstatSync(this.fd);
    return named !== undefined && named.ino === held.ino && named.dev === held.dev;
  }

  private reopen(): void {
    closeSync(this.fd);
    this.fd = this.open();
  }

  private open(): number {
    const fd = openSync(this.file, "a", 0o640);
    this.size = fstatSync(fd).size;
    this.writtenSinceLook = 0;
    this.lookedAt = Date.now();
    return fd;
  }
}

function takeLock(lock: string, tries = 2): boolean {
  try {
    closeSync(openSync(lock, "wx", 0o640));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    const made = statSync(lock, { throwIfNoEntry: false });
    if (tries > 1 && made && Date.now() - made.mtimeMs > STALE_LOCK_MS) {
      rmSync(lock, { force: true });
      return takeLock(lock, tries - 1);
    }
    return false;
  }
}

/** A rename onto NAME.N replaces the oldest; a file another writer moved first is left to it. */
function renameIfThere(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}
