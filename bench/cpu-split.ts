/**
 * `npm run bench:cpu`: where the CPU of a 39 KB free-tier upload goes, per supervisord program
 * and, for the app's programs, per thread, read from /proc (user and system apart). The load is
 * that of `npm run bench:throughput`'s free run: 8 clients, every upload a distinct DICOM,
 * `?wait`. BENCH_WARM uploads first (default 40, as the throughput run's cold line; some 1,300
 * give its warm line), then BENCH_FILES measured (default 400).
 *
 * Node names none of its threads, so they are told apart by when they started: the main thread
 * (its id is the process's), then V8's platform threads (GC, concurrent compilation; four), the
 * libuv pool (fs, crypto; four, started on first use) and, in the worker, the engine threads.
 * The machine's idle share during the run shows how long the pipeline waited with CPU to spare
 * (a lock, a flush, a timer) rather than for it.
 * A lever's effect on one run's numbers is smaller than this machine's drift: alternate runs.
 * BENCH_IDLE=S measures twice in the same run: busy, right after the warm-up, and again after S
 * seconds with no uploads (how a burst after a quiet spell fares), so that the two compare
 * without the drift between runs.
 */
import { readFile } from "node:fs/promises";
import { Appliance } from "../test/harness/appliance.ts";
import { drive, smallFreeUploads, threadCpuSeconds, uploader } from "./load.ts";

const WARM = Number(process.env.BENCH_WARM ?? 40);
const FILES = Number(process.env.BENCH_FILES ?? 400);
const IDLE_SECONDS = Number(process.env.BENCH_IDLE ?? 0);

/** The machine's CPU time by state (user, nice, system, idle, ...) from /proc/stat, in ticks. */
async function machineTicks(): Promise<number[]> {
  return (await readFile("/proc/stat", "utf8")).split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
}
const IDLE = 3;

const appliance = await Appliance.start({ CLAMAV_OFFICIAL_DATABASES: "false" });
const client = uploader(appliance.base);
try {
  const upload = await smallFreeUploads(appliance, client, WARM + (IDLE_SECONDS > 0 ? 2 : 1) * FILES, "cpu");
  if (WARM > 0) await drive(WARM, 8, upload);

  const programs = Object.keys(await appliance.programs());
  const pids = new Map(await Promise.all(programs.map(async (name) => [name, await appliance.pid(name).catch(() => 0)] as const)));
  const measure = (uploadsBefore: number) => measureLoad(pids, uploadsBefore, () => drive(FILES, 8, upload));
  if (IDLE_SECONDS > 0) {
    const busy = await measure(WARM);
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    console.log(JSON.stringify({ busy, [`after ${IDLE_SECONDS} s idle`]: await measure(WARM + FILES) }, null, 2));
  } else {
    console.log(JSON.stringify(await measure(WARM), null, 2));
  }
} finally {
  client.close();
  await appliance.destroy();
}

/** CPU per upload of each program (and, for the app's, each thread) while `load` runs. */
async function measureLoad(pids: Map<string, number>, uploadsBefore: number, load: () => Promise<{ seconds: number }>) {
  const snapshot = async () => new Map(await Promise.all([...pids].filter(([, pid]) => pid > 0).map(async ([name, pid]) => [name, await threadCpuSeconds(pid)] as const)));
  const before = await snapshot();
  const ticksBefore = await machineTicks();
  const { seconds } = await load();
  const ticks = (await machineTicks()).map((t, i) => t - ticksBefore[i]!);
  const after = await snapshot();

  const perUpload = (cpuSeconds: number) => Math.round(((cpuSeconds * 1000) / FILES) * 100) / 100;
  const report: Record<string, unknown> = { uploads: FILES, after: uploadsBefore, filesPerSecond: Math.round((FILES / seconds) * 10) / 10, machineIdlePercent: Math.round((ticks[IDLE]! / ticks.reduce((a, b) => a + b, 0)) * 1000) / 10 };
  for (const [name, now] of after) {
    const was = new Map((before.get(name) ?? []).map((t) => [t.tid, t]));
    const spent = now.map((t) => ({ tid: t.tid, user: t.user - (was.get(t.tid)?.user ?? 0), system: t.system - (was.get(t.tid)?.system ?? 0) }));
    const user = spent.reduce((s, t) => s + t.user, 0);
    const system = spent.reduce((s, t) => s + t.system, 0);
    if (user + system === 0) continue;
    const entry: Record<string, unknown> = { msPerUpload: perUpload(user + system), userMs: perUpload(user), systemMs: perUpload(system) };
    if (name.startsWith("scan-daemon")) {
      const pid = pids.get(name);
      entry.threads = spent.filter((t) => t.user + t.system > 0).map((t) => `${t.tid === pid ? "main" : t.tid}: ${perUpload(t.user + t.system)}`);
    }
    report[name] = entry;
  }
  return report;
}
