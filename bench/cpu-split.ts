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
 * A lever's effect on one run's numbers is smaller than this machine's drift: alternate runs.
 */
import { randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { Appliance } from "../test/harness/appliance.ts";
import { dicomOf, drive, uploader } from "./load.ts";

const WARM = Number(process.env.BENCH_WARM ?? 40);
const FILES = Number(process.env.BENCH_FILES ?? 400);
const CLK_TCK = 100;

interface ThreadCpu {
  readonly tid: number;
  readonly userMs: number;
  readonly systemMs: number;
}

/** Every thread of a process; one that ends between the listing and the read is left out. */
async function threads(pid: number): Promise<ThreadCpu[]> {
  const read = async (tid: string): Promise<ThreadCpu[]> => {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, "utf8").catch(() => null);
    if (stat === null) return [];
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return [{ tid: Number(tid), userMs: (Number(fields[11]) * 1000) / CLK_TCK, systemMs: (Number(fields[12]) * 1000) / CLK_TCK }];
  };
  return (await Promise.all((await readdir(`/proc/${pid}/task`)).map(read))).flat().sort((a, b) => a.tid - b.tid);
}

const appliance = await Appliance.start({ CLAMAV_OFFICIAL_DATABASES: "false" });
const client = uploader(appliance.base);
try {
  const users = await Promise.all(Array.from({ length: Math.ceil((WARM + FILES) / 50) }, (_, i) => appliance.key(`cpu-${i}`, "free")));
  let used = 0;
  const pixels = randomBytes(39 * 1024);
  const upload = async () => {
    const { status, body } = await client.upload(users[Math.floor(used++ / 50)]!.key, dicomOf(39 * 1024, pixels));
    if (status !== 200 || body.result?.status !== "clean") throw new Error(`upload: ${status} ${JSON.stringify(body).slice(0, 300)}`);
  };
  if (WARM > 0) await drive(WARM, 8, upload);

  const programs = Object.keys(await appliance.programs());
  const pids = new Map(await Promise.all(programs.map(async (name) => [name, await appliance.pid(name).catch(() => 0)] as const)));
  const snapshot = async () => new Map(await Promise.all([...pids].filter(([, pid]) => pid > 0).map(async ([name, pid]) => [name, await threads(pid)] as const)));
  const before = await snapshot();
  const { seconds } = await drive(FILES, 8, upload);
  const after = await snapshot();

  const perUpload = (ms: number) => Math.round((ms / FILES) * 100) / 100;
  const report: Record<string, unknown> = { uploads: FILES, afterWarmUp: WARM, filesPerSecond: Math.round((FILES / seconds) * 10) / 10 };
  for (const [name, now] of after) {
    const was = new Map((before.get(name) ?? []).map((t) => [t.tid, t]));
    const spent = now.map((t) => ({ tid: t.tid, userMs: t.userMs - (was.get(t.tid)?.userMs ?? 0), systemMs: t.systemMs - (was.get(t.tid)?.systemMs ?? 0) }));
    const total = spent.reduce((s, t) => s + t.userMs + t.systemMs, 0);
    if (total === 0) continue;
    const entry: Record<string, unknown> = { msPerUpload: perUpload(total), userMs: perUpload(spent.reduce((s, t) => s + t.userMs, 0)), systemMs: perUpload(spent.reduce((s, t) => s + t.systemMs, 0)) };
    if (name.startsWith("scan-daemon")) {
      const pid = pids.get(name);
      entry.threads = spent.filter((t) => t.userMs + t.systemMs > 0).map((t) => `${t.tid === pid ? "main" : t.tid}: ${perUpload(t.userMs + t.systemMs)}`);
    }
    report[name] = entry;
  }
  console.log(JSON.stringify(report, null, 2));
} finally {
  client.close();
  await appliance.destroy();
}
