/**
 * `npm run bench:profile`: CPU profiles of every app process and thread under the free-tier
 * small-file load of `npm run bench:throughput` (8 clients, every upload a distinct 39 KB DICOM),
 * then the self time per upload grouped by package and by function, heaviest first.
 * PROFILE_FILES sets the uploads profiled (default 600), PROFILE_WARM those before them (default 60;
 * some 1,300 profile a warm app); the profiles stay in PROFILE_DIR (default a
 * temporary folder) for Chrome's DevTools. bench/cpu-profile-hook.mjs does the profiling in the app.
 */
import { mkdir, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import os from "node:os";
import path from "node:path";
import { Appliance } from "../test/harness/appliance.ts";
import { drive, smallFreeUploads, uploader } from "./load.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const FILES = Number(process.env.PROFILE_FILES ?? 600);
const WARM = Number(process.env.PROFILE_WARM ?? 60);
const dir = process.argv[2] ?? process.env.PROFILE_DIR ?? (await mkdtemp(path.join(os.tmpdir(), "msd-profile-")));

/** Where a frame's code lives: an npm package, the app, Node itself or V8 (GC, idle, program). */
function packageOf(url: string, functionName: string): string {
  if (!url) return `(${functionName || "native"})`;
  const npm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (npm) return npm[1]!;
  if (url.startsWith("node:")) return url;
  const app = /\/dist\/(app\/.+)$/.exec(url);
  return app ? app[1]! : url;
}

/** Self time in ms per package and per function of one profile. */
function selfTimes(profile: CpuProfile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const packages = new Map<string, number>();
  const functions = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]!)!;
    const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    const { functionName, url, lineNumber } = node.callFrame;
    const pkg = packageOf(url, functionName);
    packages.set(pkg, (packages.get(pkg) ?? 0) + ms);
    const fn = `${functionName || "(anonymous)"} ${pkg}:${lineNumber + 1}`;
    functions.set(fn, (functions.get(fn) ?? 0) + ms);
  }
  return { packages, functions };
}

const top = (m: Map<string, number>, n: number, per: number) =>
  [...m].filter(([k]) => k !== "((idle))").sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => `${(v / per).toFixed(3).padStart(7)} ms  ${k}`);

async function profileLoad() {
  await mkdir(dir, { recursive: true });
  const hook = path.join(import.meta.dirname, "cpu-profile-hook.mjs");
  const appliance = await Appliance.start({ CLAMAV_OFFICIAL_DATABASES: "false", NODE_OPTIONS: `--import=${hook}`, PROFILE_DIR: dir });
  const client = uploader(appliance.base);
  try {
    const upload = await smallFreeUploads(appliance, client, WARM + FILES, "profile");
    await drive(WARM, 8, upload);
    await writeFile(path.join(dir, "start"), "");
    await sleep(500);
    const { seconds } = await drive(FILES, 8, upload);
    await writeFile(path.join(dir, "stop"), "");
    await sleep(2000);
    console.log(`${FILES} uploads in ${seconds.toFixed(1)} s: ${(FILES / seconds).toFixed(1)} files/s`);
  } finally {
    client.close();
    await appliance.destroy();
  }
}

// `npm run bench:profile -- DIR` summarises the profiles of an earlier run again.
if (!process.argv[2]) await profileLoad();

for (const file of (await readdir(dir)).filter((f) => f.endsWith(".cpuprofile")).sort()) {
  const profile = JSON.parse(await readFile(path.join(dir, file), "utf8")) as CpuProfile;
  const { packages, functions } = selfTimes(profile);
  const busy = [...packages].filter(([k]) => k !== "((idle))").reduce((s, [, v]) => s + v, 0);
  if (busy / FILES < 0.05) continue;
  console.log(`\n${file}: ${(busy / FILES).toFixed(2)} ms busy per upload`);
  console.log(top(packages, 15, FILES).join("\n"));
  console.log("  --");
  console.log(top(functions, 25, FILES).join("\n"));
}
console.log(`\nprofiles: ${dir}`);
