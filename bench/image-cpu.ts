/**
 * `npm run bench:image`: the CPU of a 39 KB free-tier upload in the image as shipped (Node 22,
 * the image's own layout), beside `npm run bench:cpu`'s native appliance (this machine's Node).
 * It drives a container of the image that is already running beside its Redis, under podman
 * (as CI's image check leaves it when run without CLEANUP): BENCH_IMAGE_CONTAINER (default msd), reached at
 * BENCH_IMAGE_BASE (default http://127.0.0.1:8480), its Redis container BENCH_IMAGE_REDIS
 * (default msd-redis). Keys are made as an operator makes them (`podman exec … scan-daemon keys
 * create`); CPU is read from /proc on the host for the container's processes.
 *
 * The app's programs are restarted first (`supervisorctl restart`), so that the first line finds
 * them as fresh as bench:cpu's appliance. The same load as bench:cpu: 8 clients, every upload a
 * distinct DICOM, `?wait`; BENCH_WARM uploads first (default 40), then BENCH_FILES measured (default 400); then, unless
 * BENCH_STEADY=0, the same again after 1,300 more uploads (the throughput bench's warm line).
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { drive, processCpuSeconds, smallFreeUploads, uploader } from "./load.ts";

const run = promisify(execFile);
const CONTAINER = process.env.BENCH_IMAGE_CONTAINER ?? "msd";
const REDIS = process.env.BENCH_IMAGE_REDIS ?? "msd-redis";
const BASE = process.env.BENCH_IMAGE_BASE ?? "http://127.0.0.1:8480";
const WARM = Number(process.env.BENCH_WARM ?? 40);
const FILES = Number(process.env.BENCH_FILES ?? 400);
const STEADY_AFTER = 1300;

const podman = async (...args: string[]) => (await run("podman", args, { encoding: "utf8", timeout: 90_000 })).stdout;

/** `scan-daemon keys create` in the container, as the README has an operator do it. */
async function key(user: string, tier: string): Promise<{ id: string; key: string }> {
  const out = await podman("exec", CONTAINER, "scan-daemon", "keys", "create", "--user", user, "--tier", tier);
  const found = /^msd_[A-Za-z0-9_-]+$/m.exec(out)?.[0];
  if (!found) throw new Error(`keys create: ${out}`);
  return { id: user, key: found };
}

/** Host pids of the container's programs, told apart by their command lines. */
async function programs(): Promise<Record<string, number>> {
  const rows = (await podman("top", CONTAINER, "hpid", "args")).trim().split("\n").slice(1);
  const found: Record<string, number> = {};
  for (const row of rows) {
    const [pid, ...args] = row.trim().split(/\s+/);
    const command = args.join(" ");
    const name = command.includes("--role intake") ? "intake" : command.includes("--role worker") ? "worker" : /(^|\/)clamd( |$)/.test(command) ? "clamd" : undefined;
    if (name) found[name] = Number(pid);
  }
  found.redis = Number((await podman("inspect", REDIS, "--format", "{{.State.Pid}}")).trim());
  if (!found.intake || !found.worker || !found.clamd) throw new Error(`not every program found in ${CONTAINER}: ${rows.join("\n")}`);
  return found;
}

async function measure(upload: () => Promise<void>, pids: Record<string, number>) {
  const cpu = async () => Object.fromEntries(await Promise.all(Object.entries(pids).map(async ([name, pid]) => [name, await processCpuSeconds(pid)] as const)));
  const before = await cpu();
  const { seconds } = await drive(FILES, 8, upload);
  const after = await cpu();
  const ms = (name: string) => Math.round(((after[name]! - before[name]!) * 1000 * 100) / FILES) / 100;
  return { filesPerSecond: Math.round((FILES / seconds) * 10) / 10, appMsPerUpload: Math.round((ms("intake") + ms("worker")) * 100) / 100, intake: ms("intake"), worker: ms("worker"), clamd: ms("clamd"), redis: ms("redis") };
}

/** Restarts the app's programs and waits until the intake says it is ready. */
async function restartApp(): Promise<void> {
  await podman("exec", CONTAINER, "supervisorctl", "restart", "scan-daemon:*");
  const deadline = Date.now() + 120_000;
  while ((await fetch(`${BASE}/health/ready`).then((r) => r.status, () => 0)) !== 200) {
    if (Date.now() > deadline) throw new Error(`${CONTAINER} not ready two minutes after its app restarted`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const client = uploader(BASE);
try {
  await restartApp();
  const pids = await programs();
  const node = (await podman("exec", CONTAINER, "node", "--version")).trim();
  const upload = await smallFreeUploads({ key }, client, WARM + FILES + (process.env.BENCH_STEADY === "0" ? 0 : STEADY_AFTER + FILES), `image-${Date.now()}`);
  if (WARM > 0) await drive(WARM, 8, upload);
  const cold = await measure(upload, pids);
  let steady;
  if (process.env.BENCH_STEADY !== "0") {
    await drive(STEADY_AFTER, 8, upload);
    steady = await measure(upload, pids);
  }
  console.log(JSON.stringify({ container: CONTAINER, node, uploads: FILES, afterWarmUp: WARM, cold, ...(steady ? { steady } : {}) }, null, 2));
} finally {
  client.close();
}
