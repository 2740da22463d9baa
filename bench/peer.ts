/**
 * The usual Node ClamAV REST wrapper, benzino77/clamav-rest-api (Express, express-fileupload,
 * clamscan), run side by side on the appliance's clamd so that the gate is compared with a
 * peer in the same run. BENCH_PEER_DIR names a checkout of it
 * (`git clone https://github.com/benzino77/clamav-rest-api`); it is copied to a temporary
 * folder, its dependencies installed there with `npm ci --omit=dev`, and started on a free port.
 */
import { execFile, spawn } from "node:child_process";
import { cp, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort } from "../test/harness/ports.ts";
import { terminate } from "../test/harness/processes.ts";
import { processCpuSeconds } from "./load.ts";

const execFileAsync = promisify(execFile);
/** The multipart field the wrapper reads (its APP_FORM_KEY). */
export const PEER_FIELD = "FILES";
export const PEER_PATH = "/api/v1/scan";

export interface Peer {
  readonly base: string;
  /** The peer's git commit, for the report. */
  readonly commit: string;
  readonly pid: number;
  /** Its process's CPU seconds so far (user + system, every thread). */
  cpuSeconds(): Promise<number>;
  close(): Promise<void>;
}

export async function startPeer(checkout: string, clamdPort: number): Promise<Peer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "msd-peer-"));
  await cp(checkout, dir, { recursive: true, filter: (src) => !src.includes(`${path.sep}node_modules`) && !src.endsWith(`${path.sep}.git`) });
  await execFileAsync("npm", ["ci", "--omit=dev", "--no-audit", "--no-fund"], { cwd: dir });
  const commit = (await execFileAsync("git", ["-C", checkout, "rev-parse", "--short", "HEAD"]).catch(() => ({ stdout: "unknown" }))).stdout.trim();
  const port = await freePort();
  const env = { ...process.env, NODE_ENV: "production", APP_PORT: String(port), APP_FORM_KEY: PEER_FIELD, APP_MORGAN_LOG_FORMAT: "tiny", APP_MAX_FILE_SIZE: String(64 * 1024 * 1024), APP_MAX_FILES_NUMBER: "4", CLAMD_IP: "127.0.0.1", CLAMD_PORT: String(clamdPort), CLAMD_TIMEOUT: "60000" };
  const child = spawn(process.execPath, ["src/app.js"], { cwd: dir, env, stdio: "ignore" });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (await fetch(`${base}/api/v1/version`).then((r) => r.ok, () => false)) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      await terminate(child, "SIGKILL");
      throw new Error(`the peer (clamav-rest-api) did not start on port ${port}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    base,
    commit,
    pid: child.pid!,
    cpuSeconds: () => processCpuSeconds(child.pid!),
    async close() {
      await terminate(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
