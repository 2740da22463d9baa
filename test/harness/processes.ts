import type { ChildProcess } from "node:child_process";

/** Sends `signal`, waits up to `graceMs` for the exit, then SIGKILLs. Resolves once it is gone. */
export async function terminate(child: ChildProcess | null, signal: NodeJS.Signals = "SIGTERM", graceMs = 10_000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
  clearTimeout(timer);
  if (child.exitCode === null && child.signalCode === null) {
    child.kill("SIGKILL");
    await exited;
  }
}
