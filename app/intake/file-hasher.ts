import path from "node:path";
import { fileURLToPath } from "node:url";
import { Piscina } from "piscina";

const here = fileURLToPath(import.meta.url);
/** The hash thread's entry: intake/hash-thread.ts from source (tests, tsx), .js from the build. */
const HASH_THREAD_FILE = path.join(path.dirname(here), `hash-thread${path.extname(here)}`);
/** Below the engine threads' nice 10: a large upload's hash yields the CPU to every request and scan. */
const THREAD_NICE = 15;
const IDLE_MS = 60_000;

/**
 * SHA-256 of large uploads, off the event loop that serves HTTP: 100 MB is about 300 ms of CPU
 * here, which on the loop would delay every other tenant's request behind it. One thread, made
 * on the first large upload and ended after a minute without one; uploads wait their turn.
 */
export class FileHasher {
  private readonly piscina = new Piscina<string, { size: number; sha256: string }>({
    filename: HASH_THREAD_FILE,
    minThreads: 0,
    maxThreads: 1,
    idleTimeout: IDLE_MS,
    concurrentTasksPerWorker: 1,
    atomics: "disabled",
    niceIncrement: THREAD_NICE,
  });

  hash(file: string): Promise<{ size: number; sha256: string }> {
    return this.piscina.run(file);
  }

  close(): Promise<void> {
    return this.piscina.destroy();
  }
}
