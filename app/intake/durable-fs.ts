import { copyFile, open, rename, unlink } from "node:fs/promises";
import path from "node:path";

/** Flushes a file, or a folder's entries, to disk. */
export async function fsyncPath(p: string): Promise<void> {
  const handle = await open(p, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * fsyncs of one folder shared by concurrent callers, as a group commit shares a log flush: a
 * call made while a sync runs waits for the next one, which starts when the running one ends
 * and so covers every entry made before any of its callers asked.
 */
export class FolderSync {
  private running: Promise<void> | null = null;
  private next: Promise<void> | null = null;

  constructor(
    readonly dir: string,
    private readonly flush: (dir: string) => Promise<void> = fsyncPath,
  ) {}

  sync(): Promise<void> {
    if (!this.running) return this.start();
    return (this.next ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.next = null;
        return this.start();
      }));
  }

  private start(): Promise<void> {
    const run = this.flush(this.dir).finally(() => {
      if (this.running === run) this.running = null;
    });
    this.running = run;
    return run;
  }
}

/**
 * Moves a file so that after a crash it is in exactly one place: rename within a filesystem;
 * across filesystems copy, fsync, then unlink the source. Both folders are synced (the
 * destination's by `syncDest`, when the caller shares its syncs), unless the source is a
 * scratch folder that a start sweeps anyway (`syncSource: false`).
 */
export async function moveDurably(src: string, dest: string, { syncSource = true, syncDest = () => fsyncPath(path.dirname(dest)) } = {}): Promise<void> {
  try {
    await rename(src, dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
    await copyFile(src, dest);
    await fsyncPath(dest);
    await unlink(src);
  }
  await syncDest();
  if (syncSource) await fsyncPath(path.dirname(src));
}
