import { spawnSync } from "node:child_process";
import path from "node:path";
import { packageRoot } from "../package-root.ts";

type Out = (line: string) => void;

/** Runs a script of the package with the caller's environment (APPLIANCE_HOME, ports), returning its exit code. */
function run(script: string, args: readonly string[], out: Out, err: Out): number {
  const r = spawnSync("bash", [path.join(packageRoot, script), ...args], { encoding: "utf8", env: process.env });
  if (r.error) {
    err(`${script}: ${r.error.message}`);
    return 2;
  }
  if (r.stdout.trim()) out(r.stdout.trimEnd());
  if (r.stderr.trim()) err(r.stderr.trimEnd());
  return r.status ?? 2;
}

/** Exit code of status and restart when no supervisord answers for this APPLIANCE_HOME (LSB's "not running"). */
const NOT_RUNNING = 3;
const STOP_WAIT_MS = 180_000;

/** supervisord's pid, when one answers on this appliance's socket. */
function supervisordPid(): number | undefined {
  const r = spawnSync("bash", [path.join(packageRoot, "scripts/appliance-ctl.sh"), "pid"], { encoding: "utf8", env: process.env });
  const pid = Number(r.stdout?.trim());
  return r.status === 0 && Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

const notRunning = (err: Out) => err(`no appliance is running for APPLIANCE_HOME=${process.env.APPLIANCE_HOME ?? "(default)"} (supervisord does not answer); start it with npm run appliance or the container`);

/**
 * `scan-daemon status`: every supervisord program's state, then the health check (clamd,
 * definitions, Redis, the app's readiness). 0 healthy, 1 something broken, 3 no appliance.
 */
export function statusCommand(out: Out, err: Out): number {
  if (supervisordPid() === undefined) {
    notRunning(err);
    return NOT_RUNNING;
  }
  const programs = run("scripts/appliance-ctl.sh", ["status"], out, err);
  if (programs !== 0 && programs !== 3) return 1;
  return run("healthcheck/health-check.sh", [], out, err) === 0 ? 0 : 1;
}

/**
 * `scan-daemon stop`: supervisord stops every program (the app first finishes its running
 * scans) and exits; this waits until it has. 0 once stopped or when nothing was running,
 * 1 when supervisord refused or is still there after three minutes.
 */
export async function stopCommand(out: Out, err: Out): Promise<number> {
  const pid = supervisordPid();
  if (pid === undefined) {
    out("no appliance is running here: nothing to stop");
    return 0;
  }
  if (run("scripts/appliance-ctl.sh", ["shutdown"], out, err) !== 0) return 1;
  const deadline = Date.now() + STOP_WAIT_MS;
  while (alive(pid)) {
    if (Date.now() > deadline) {
      err(`supervisord (pid ${pid}) is still stopping after ${STOP_WAIT_MS / 1000} s`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  out("stopped");
  return 0;
}

/**
 * `scan-daemon restart [PROGRAM...]`: the app (intake and worker) by default; `all`, `clamd`,
 * `freshclam`, `scan-daemon:worker` as named. 0 restarted, 1 a program did not start again,
 * 2 no such program, 3 no appliance.
 */
export function restartCommand(args: readonly string[], out: Out, err: Out): number {
  if (supervisordPid() === undefined) {
    notRunning(err);
    return NOT_RUNNING;
  }
  let output = "";
  const collect: Out = (line) => (output += `${line}\n`);
  const code = run("scripts/appliance-ctl.sh", ["restart", ...(args.length ? args : ["scan-daemon:*"])], collect, collect);
  if (output.trim()) out(output.trimEnd());
  if (/ERROR \(no such (process|group)\)/.test(output)) return 2;
  return code === 0 ? 0 : 1;
}
