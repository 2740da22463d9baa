import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, rmdir, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

const SEP = "@";

/**
 * A private folder for one upload or one scan, named after this host and process, so that a
 * later start can tell what a killed process left from the work of processes still running
 * (also those of other containers that share the volume).
 */
export async function scratchDir(parent: string, prefix: string): Promise<string> {
  await mkdir(parent, { recursive: true, mode: 0o700 });
  return mkdtemp(path.join(parent, [prefix, os.hostname(), process.pid, ""].join(SEP)));
}

/**
 * The name of a scratch folder that is made only if some work needs it (by this process or
 * one of its threads, which share its pid), and removed afterwards whether or not it was.
 */
export function scratchPath(parent: string, prefix: string): string {
  // randomUUID draws on a pool it refills every 128 calls; randomBytes goes to OpenSSL each time.
  return path.join(parent, [prefix, os.hostname(), process.pid, randomUUID()].join(SEP));
}

/**
 * Removes a scratch folder that was perhaps never made. Most scans make none: a look on this
 * thread answers that, where a failed rmdir cost a trip through libuv's pool and an error.
 */
export async function removeScratch(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  try {
    await rmdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return;
    if (code !== "ENOTEMPTY" && code !== "EEXIST" && code !== "ENOTDIR") throw err;
    await rm(dir, { recursive: true, force: true });
  }
}

/** Makes `dir` (0700) the first time it is asked for, and gives its path every time. */
export function madeOnFirstUse(dir: string): () => Promise<string> {
  let made: Promise<string> | null = null;
  return () => (made ??= mkdir(dir, { recursive: true, mode: 0o700 }).then(() => dir));
}

/**
 * Removes scratch folders under `parent` whose process on this host no longer runs (a worker
 * SIGKILLed mid-scan, an API process killed mid-upload) and any scratch folder untouched for
 * `maxAgeMs`, wherever it came from. Returns how many it removed.
 */
export async function sweepScratch(parent: string, maxAgeMs: number, now = Date.now()): Promise<number> {
  const names = await readdir(parent).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return [] as string[];
    throw err;
  });
  let removed = 0;
  for (const name of names) {
    const [, host, pid] = name.split(SEP);
    if (host === undefined || pid === undefined || !/^\d+$/.test(pid)) continue;
    const full = path.join(parent, name);
    const dead = host === os.hostname() && !running(Number(pid));
    const info = dead ? null : await stat(full).catch(() => null);
    const stale = info !== null && now - info.mtimeMs > maxAgeMs;
    if (dead || stale) {
      await rm(full, { recursive: true, force: true });
      removed++;
    }
  }
  return removed;
}

function running(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
