/**
 * `npm run bench:ab -- OTHER_CHECKOUT`: this checkout's appliance (A) and another checkout's (B,
 * a `git worktree` of the commit to compare, with node_modules) started together and loaded
 * together, 8 clients each, every upload a distinct 39 KB free-tier DICOM with `?wait`. The CPU
 * per upload of each side's app (intake + worker) and clamd is read from /proc over the same
 * windows, so a change in the machine's speed hits both sides alike: between runs of one
 * appliance it moves by a quarter or more, within one run of this bench the two sides of the
 * same commit stay within about 3 % of each other (BENCHMARKS.md).
 *
 * BENCH_WINDOWS: the windows measured, as `after:count` (default `40:400,1300:800`: the cold line
 * of `npm run bench:throughput`, then once warm), each from the moment both sides have taken
 * `after` uploads until both have taken `count` more.
 */
import { randomBytes } from "node:crypto";
import path from "node:path";
import { Appliance } from "../test/harness/appliance.ts";
import { dicomOf, percentile, processCpuSeconds, uploader } from "./load.ts";

const other = process.argv[2];
if (!other) throw new Error("usage: npm run bench:ab -- OTHER_CHECKOUT (built by the harness when stale)");
const windows = (process.env.BENCH_WINDOWS ?? "40:400,1300:800").split(",").map((w) => {
  const [after, count] = w.split(":").map(Number);
  if (!(after! >= 0 && count! > 0)) throw new Error(`BENCH_WINDOWS: ${w} is not after:count`);
  return { after: after!, count: count! };
});

type Start = (env: Record<string, string>) => Promise<Appliance>;
const { Appliance: OtherAppliance } = (await import(path.resolve(other, "test/harness/appliance.ts"))) as { Appliance: { start: Start } };
// One key a side, so the daily limit is raised; every upload still passes the daily count.
const env = { CLAMAV_OFFICIAL_DATABASES: "false", TIER_FREE_FILES_PER_DAY: "1000000" };
const appliances = await Promise.all([Appliance.start(env), OtherAppliance.start(env)]);
const pixels = randomBytes(39 * 1024);

interface Side {
  readonly name: string;
  readonly upload: () => Promise<void>;
  readonly close: () => void;
  /** intake, worker, clamd */
  readonly pids: number[];
  done: number;
  /** Each upload's time, in order of completion. */
  readonly latencies: number[];
}

try {
  const sides: Side[] = await Promise.all(
    appliances.map(async (appliance, i) => {
      const { key } = await appliance.key("ab", "free");
      const client = uploader(appliance.base);
      const pids = await Promise.all(["scan-daemon:intake", "scan-daemon:worker", "clamd"].map((p) => appliance.pid(p)));
      const side: Side = {
        name: i === 0 ? "A" : "B",
        pids,
        close: () => client.close(),
        done: 0,
        latencies: [],
        upload: async () => {
          const started = performance.now();
          const { status, body } = await client.upload(key, dicomOf(39 * 1024, pixels));
          side.latencies.push(performance.now() - started);
          if (status !== 200 || body.result?.status !== "clean") throw new Error(`${side.name}: upload ${status} ${JSON.stringify(body).slice(0, 300)}`);
          side.done++;
        },
      };
      return side;
    }),
  );
  let stopped = false;
  // A failed upload stops every loop; waiting on the load then throws its error.
  const load = Promise.all(
    sides.flatMap((side) =>
      Array.from({ length: 8 }, async () => {
        while (!stopped) await side.upload();
      }),
    ),
  ).finally(() => (stopped = true));
  load.catch(() => undefined);
  const reached = async (n: number) => {
    while (Math.min(...sides.map((s) => s.done)) < n) await Promise.race([new Promise((r) => setTimeout(r, 20)), load]);
  };
  const cpu = (side: Side) => Promise.all(side.pids.map(processCpuSeconds));
  for (const { after, count } of windows) {
    await reached(after);
    const before = await Promise.all(sides.map(async (s) => ({ done: s.done, cpu: await cpu(s) })));
    const startedAt = performance.now();
    await reached(after + count);
    const seconds = (performance.now() - startedAt) / 1000;
    const lines = await Promise.all(
      sides.map(async (s, i) => {
        const [intake, worker, clamd] = (await cpu(s)).map((c, k) => c - before[i]!.cpu[k]!);
        const n = s.done - before[i]!.done;
        const ms = (cpuSeconds: number) => Math.round((cpuSeconds * 1000 * 100) / n) / 100;
        const latencies = s.latencies.slice(before[i]!.done, s.done).sort((a, b) => a - b);
        return {
          side: s.name,
          uploads: n,
          filesPerSecond: Math.round((n / seconds) * 10) / 10,
          p50Ms: Math.round(percentile(latencies, 50)),
          p99Ms: Math.round(percentile(latencies, 99)),
          appMs: ms(intake! + worker!),
          intakeMs: ms(intake!),
          workerMs: ms(worker!),
          clamdMs: ms(clamd!),
        };
      }),
    );
    console.log(JSON.stringify({ after, sides: lines, appBOverA: Math.round((lines[1]!.appMs / lines[0]!.appMs) * 1000) / 1000 }));
  }
  stopped = true;
  await load;
  for (const side of sides) side.close();
} finally {
  await Promise.all(appliances.map((a) => a.destroy()));
}
