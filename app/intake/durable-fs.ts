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
 * Moves a file so that after a crash it is in exactly one place: rename within a filesystem;
 * across filesystems copy, fsync, then unlink the source. Both folders are synced, unless the
 * source is a scratch folder that a start sweeps anyway (`syncSource: false`).
 */
export async function moveDurably(src: string, dest: string, { syncSource = true } = {}): Promise<void> {
  try {
    await rename(src, dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
    await copyFile(src, dest);
    await fsyncPath(dest);
    await unlink(src);
  }
  await fsyncPath(path.dirname(dest));
  if (syncSource) await fsyncPath(path.dirname(src));
}
