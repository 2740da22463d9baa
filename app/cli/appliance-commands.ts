import { spawnSync } from "node:child_process";
import path from "node:path";
import { packageRoot } from "../config.ts";

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

/**
 * `scan-daemon status`: every supervisord program's state, then the health check (clamd,
 * definitions, Redis, the app's readiness). Exit 0 only when the appliance is healthy.
 */
export function statusCommand(out: Out, err: Out): number {
  const programs = run("scripts/appliance-ctl.sh", ["status"], out, err);
  if (programs !== 0 && programs !== 3) return 2;
  return run("healthcheck/health-check.sh", [], out, err);
}

/** `scan-daemon stop`: supervisord stops every program (the app first finishes its running scans) and exits. */
export function stopCommand(out: Out, err: Out): number {
  return run("scripts/appliance-ctl.sh", ["shutdown"], out, err);
}

/** `scan-daemon restart [PROGRAM...]`: the app (intake and worker) by default; `all`, `clamd`, `freshclam`, `scan-daemon:worker` as named. */
export function restartCommand(args: readonly string[], out: Out, err: Out): number {
  return run("scripts/appliance-ctl.sh", ["restart", ...(args.length ? args : ["scan-daemon:*"])], out, err);
}
