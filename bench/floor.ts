/**
 * `npm run bench:floor`: the app beside its floor (bench/floor/gate.ts: the same stack doing the
 * least a durable, queued, two-program gate must do per upload) and, with BENCH_PEER_DIR, the
 * usual Node ClamAV REST wrapper (bench/peer.ts), all loaded together on one clamd, 8 clients
 * each, every upload a distinct 39 KB DICOM with `?wait` (the app's at the free tier). The CPU
 * per upload of each side's programs is read from /proc over the same windows, so the machine's
 * drift hits every side alike. What the app spends above the floor is what its guarantees and
 * engines add; the floor is what no change to the app's own code can remove.
 *
 * BENCH_WINDOWS as in `npm run bench:ab` (default `40:400,1300:800`), counted by the slowest side.
 */
import { randomBytes } from "node:crypto";
import { Appliance } from "../test/harness/appliance.ts";
import { cleanVerdict, startFloor, type Floor } from "./floor/start.ts";
import { dicomOf, percentile, processCpuSeconds, uploader, type UploadAnswer } from "./load.ts";
import { PEER_FIELD, PEER_PATH, startPeer, type Peer } from "./peer.ts";

const windows = (process.env.BENCH_WINDOWS ?? "40:400,1300:800").split(",").map((w) => {
  const [after, count] = w.split(":").map(Number);
  if (!(after! >= 0 && count! > 0)) throw new Error(`BENCH_WINDOWS: ${w} is not after:count`);
  return { after: after!, count: count! };
});

interface Side {
  readonly name: string;
  readonly pids: readonly number[];
  readonly upload: (data: Buffer) => Promise<UploadAnswer>;
  readonly clean: (answer: UploadAnswer) => boolean;
  readonly close: () => void;
  done: number;
  readonly latencies: number[];
}

const appliance = await Appliance.start({ CLAMAV_OFFICIAL_DATABASES: "false", TIER_FREE_FILES_PER_DAY: "1000000" });
let floor: Floor | undefined;
let peer: Peer | undefined;
const pixels = randomBytes(39 * 1024);
const small = () => dicomOf(39 * 1024, pixels);
try {
  floor = await startFloor(appliance);
  const appClient = uploader(appliance.base);
  const { key } = await appliance.key("floor-bench", "free");
  const sides: Side[] = [
    { name: "app", pids: Object.values(await appliance.appPids()), upload: (d) => appClient.upload(key, d), clean: cleanVerdict, close: () => appClient.close(), done: 0, latencies: [] },
    { name: "floor", pids: floor.pids, upload: (d) => floor!.upload(d), clean: cleanVerdict, close: () => undefined, done: 0, latencies: [] },
  ];
  if (process.env.BENCH_PEER_DIR) {
    peer = await startPeer(process.env.BENCH_PEER_DIR, Number(appliance.env.CLAMAV_PORT));
    const peerClient = uploader(peer.base, { path: PEER_PATH, field: PEER_FIELD });
    const peerClean = ({ status, body }: UploadAnswer) => status === 200 && (body as { data?: { result?: { is_infected: boolean }[] } }).data?.result?.[0]?.is_infected === false;
    sides.push({ name: `wrapper (clamav-rest-api ${peer.commit})`, pids: [peer.pid], upload: (d) => peerClient.upload(undefined, d), clean: peerClean, close: () => peerClient.close(), done: 0, latencies: [] });
  }

  let stopped = false;
  // A failed upload stops every loop; waiting on the load then throws its error.
  const load = Promise.all(
    sides.flatMap((side) =>
      Array.from({ length: 8 }, async () => {
        while (!stopped) {
          const started = performance.now();
          const answer = await side.upload(small());
          side.latencies.push(performance.now() - started);
          if (!side.clean(answer)) throw new Error(`${side.name}: upload ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`);
          side.done++;
        }
      }),
    ),
  ).finally(() => (stopped = true));
  load.catch(() => undefined);
  const reached = async (n: number) => {
    while (Math.min(...sides.map((s) => s.done)) < n) await Promise.race([new Promise((r) => setTimeout(r, 20)), load]);
  };
  const cpu = (side: Side) => Promise.all(side.pids.map(processCpuSeconds));
  const clamdPid = await appliance.pid("clamd");
  for (const { after, count } of windows) {
    await reached(after);
    const before = await Promise.all(sides.map(async (s) => ({ done: s.done, cpu: await cpu(s) })));
    const clamdBefore = await processCpuSeconds(clamdPid);
    const startedAt = performance.now();
    await reached(after + count);
    const seconds = (performance.now() - startedAt) / 1000;
    const clamdSeconds = (await processCpuSeconds(clamdPid)) - clamdBefore;
    const lines = await Promise.all(
      sides.map(async (s, i) => {
        const spent = (await cpu(s)).map((c, k) => c - before[i]!.cpu[k]!);
        const n = s.done - before[i]!.done;
        const ms = (cpuSeconds: number) => Math.round((cpuSeconds * 1000 * 100) / n) / 100;
        const latencies = s.latencies.slice(before[i]!.done, s.done).sort((a, b) => a - b);
        return { side: s.name, uploads: n, filesPerSecond: Math.round((n / seconds) * 10) / 10, p50Ms: Math.round(percentile(latencies, 50)), p99Ms: Math.round(percentile(latencies, 99)), cpuMs: ms(spent.reduce((a, b) => a + b, 0)), perProgramMs: spent.map(ms) };
      }),
    );
    const scans = lines.reduce((sum, l) => sum + l.uploads, 0);
    console.log(JSON.stringify({ after, sides: lines, clamdMsPerScan: Math.round((clamdSeconds * 1000 * 100) / scans) / 100, appOverFloor: Math.round((lines[0]!.cpuMs / lines[1]!.cpuMs) * 100) / 100 }));
  }
  stopped = true;
  await load;
  for (const side of sides) side.close();
} finally {
  await peer?.close();
  await floor?.close();
  await appliance.destroy();
}
