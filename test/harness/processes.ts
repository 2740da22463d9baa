import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import path from "node:path";

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

/**
 * Starts a server and polls `ready` until it answers. When the server exits first, or does not
 * answer within `timeoutMs`, the error carries the end of its output.
 */
export async function startServer(command: string, args: readonly string[], options: SpawnOptions, ready: () => Promise<boolean>, timeoutMs: number, pollMs: number): Promise<ChildProcess> {
  const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-4000));
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const name = path.basename(command);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${output}`);
    if (await ready()) return child;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  await terminate(child, "SIGKILL");
  throw new Error(`${name} did not answer within ${timeoutMs} ms: ${output}`);
}
