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
import { cleanVerdict, dicomOf, loadTogether, loadWindows, uploader } from "./load.ts";

const other = process.argv[2];
if (!other) throw new Error("usage: npm run bench:ab -- OTHER_CHECKOUT (built by the harness when stale)");
const windows = loadWindows();

type Start = (env: Record<string, string>) => Promise<Appliance>;
const { Appliance: OtherAppliance } = (await import(path.resolve(other, "test/harness/appliance.ts"))) as { Appliance: { start: Start } };
// One key a side, so the daily limit is raised; every upload still passes the daily count.
const env = { CLAMAV_OFFICIAL_DATABASES: "false", TIER_FREE_FILES_PER_DAY: "1000000" };
const appliances = await Promise.all([Appliance.start(env), OtherAppliance.start(env)]);
const pixels = randomBytes(39 * 1024);
const clients = appliances.map((a) => uploader(a.base));

try {
  const sides = await Promise.all(
    appliances.map(async (appliance, i) => {
      const { key } = await appliance.key("ab", "free");
      const name = i === 0 ? "A" : "B";
      return {
        name,
        // intake, worker, clamd
        pids: await Promise.all(["scan-daemon:intake", "scan-daemon:worker", "clamd"].map((p) => appliance.pid(p))),
        upload: async () => {
          const answer = await clients[i]!.upload(key, dicomOf(39 * 1024, pixels));
          if (!cleanVerdict(answer)) throw new Error(`${name}: upload ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`);
        },
      };
    }),
  );
  await loadTogether(sides, windows, (after, lines) => {
    const out = lines.map(({ msPerUpload: [intake, worker, clamd], ...line }) => ({ ...line, appMs: Math.round((intake! + worker!) * 100) / 100, intakeMs: intake, workerMs: worker, clamdMs: clamd }));
    console.log(JSON.stringify({ after, sides: out, appBOverA: Math.round((out[1]!.appMs / out[0]!.appMs) * 1000) / 1000 }));
  });
} finally {
  for (const client of clients) client.close();
  await Promise.all(appliances.map((a) => a.destroy()));
}
