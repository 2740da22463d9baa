import fs, { closeSync, createReadStream, fsyncSync, openSync, renameSync } from "node:fs";
import { open, stat, unlink } from "node:fs/promises";
import path from "node:path";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";

const writevFd = promisify(fs.writev);
const writeFd = promisify(fs.write);

/** How much of a file is written before it is flushed on the way (see DurableWriteStream). */
const SYNC_STEP_BYTES = 8 * 1024 * 1024;

/** Flushes a file, or a folder's entries, to disk. */
export async function fsyncPath(p: string): Promise<void> {
  const handle = await open(p, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsyncPath on the calling thread. */
export function fsyncPathSync(p: string): void {
  const fd = openSync(p, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * fsyncs of one folder shared by the callers of one turn of the event loop: the first call
 * schedules one fsync, on the calling thread, once the turn's synchronous work is done, and it
 * covers every entry made before any of its callers asked. On the thread, not through libuv's
 * pool: its callers hold the store's write lock, which each trip through the pool would hold
 * for another turn of a busy event loop (see AuditLogFile).
 */
export class FolderSync {
  private inTurn: Promise<void> | undefined;

  constructor(
    readonly dir: string,
    private readonly flush: (dir: string) => void = fsyncPathSync,
  ) {}

  sync(): Promise<void> {
    return (this.inTurn ??= Promise.resolve().then(() => {
      this.inTurn = undefined;
      this.flush(this.dir);
    }));
  }
}

/**
 * Moves a file so that after a crash it is in exactly one place: rename within a filesystem;
 * across filesystems a durable copy (flushed in steps, with the source's mode), then unlink the
 * source. Both folders are synced (the destination's by `syncDest`, when the caller shares its
 * syncs), unless the source is a scratch folder that a start sweeps anyway (`syncSource: false`).
 * The rename is one call on the calling thread: callers under the store's write lock would
 * otherwise hold it for a trip through libuv's pool.
 */
export async function moveDurably(src: string, dest: string, { syncSource = true, syncDest = () => fsyncPath(path.dirname(dest)) } = {}): Promise<void> {
  try {
    renameSync(src, dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
    const { mode } = await stat(src);
    await pipeline(createReadStream(src), new DurableWriteStream(dest, { mode: mode & 0o777 }));
    await unlink(src);
  }
  await syncDest();
  if (syncSource) await fsyncPath(path.dirname(src));
}

/**
 * A file written for keeps: flushed to disk every `syncStepBytes` on the way and fsynced before
 * 'finish'. One fsync of a whole large file at its end makes every other fsync on the
 * filesystem wait for all of it (ext4 commits its journal after the data it orders): behind a
 * 104 MB file synced at once, a small file's fsync waited up to 77 ms on the test machine, and
 * 8 ms with the large one flushed in steps (BENCHMARKS.md).
 */
export class DurableWriteStream extends Writable {
  private fd: number | undefined;
  private unsynced = 0;

  constructor(
    readonly path: string,
    private readonly options: { readonly mode: number; readonly flags?: string; readonly syncStepBytes?: number },
  ) {
    super();
  }

  /**
   * Opened and closed on the calling thread: a metadata call each, where a trip through libuv's
   * pool cost more than the call. Writes and flushes, which may wait for the disk, go through the pool.
   */
  override _construct(done: (err?: Error | null) => void): void {
    try {
      this.fd = openSync(this.path, this.options.flags ?? "w", this.options.mode);
    } catch (err) {
      return done(err as Error);
    }
    done();
  }

  override _writev(chunks: { chunk: Buffer }[], done: (err?: Error | null) => void): void {
    this.append(chunks.map((c) => c.chunk)).then(() => done(), done);
  }

  override _final(done: (err?: Error | null) => void): void {
    // fs.fsync and fs.fdatasync are looked up at the call: the unit test counts the flushes.
    fs.fsync(this.fd!, done);
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    const fd = this.fd;
    this.fd = undefined;
    if (fd === undefined) return done(err);
    try {
      closeSync(fd);
    } catch (closeErr) {
      return done(err ?? (closeErr as Error));
    }
    done(err);
  }

  private async append(buffers: Buffer[]): Promise<void> {
    const fd = this.fd!;
    const { bytesWritten } = await writevFd(fd, buffers);
    const total = buffers.reduce((n, b) => n + b.length, 0);
    // A short write (a disk nearly full, a signal) leaves the rest to write from where it stopped.
    let rest = bytesWritten < total ? Buffer.concat(buffers).subarray(bytesWritten) : null;
    while (rest?.length) rest = rest.subarray((await writeFd(fd, rest)).bytesWritten);
    this.unsynced += total;
    if (this.unsynced >= (this.options.syncStepBytes ?? SYNC_STEP_BYTES)) {
      this.unsynced = 0;
      await promisify(fs.fdatasync)(fd);
    }
  }
}
