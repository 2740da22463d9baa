/**
 * The gate's throughput on small and large DICOM against raw clamd on the same files in the
 * same run, and the app's CPU per upload read from /proc (every app process with its threads).
 * BENCH_FILES scales the small-file runs.
 * - 39 KB DICOM, free tier, `?wait`, 8 and 32 clients, every upload a distinct file; premium at 8;
 * - raw clamd INSTREAM over the same files at 8 connections, just before and just after the free run;
 * - the free run again after some 1,300 uploads (steady state: the JIT has done its work), with raw
 *   clamd around it again;
 * - 20 MB DICOM, premium, 4 clients, against raw clamd at 4 connections just before and after;
 * - with BENCH_PEER_DIR, the usual Node ClamAV REST wrapper on the same clamd and the same kind
 *   of files at 8 clients (bench/peer.ts);
 * - the stack's floor (bench/floor/gate.ts), freshly started, over the same kind of files at 8
 *   clients after the same 40 uploads: its CPU per upload beside the app's cold line.
 */
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { ClamdClient } from "../app/engines/clamav/clamd-client.ts";
import type { Appliance } from "../test/harness/appliance.ts";
import { ceilTo, floorTo } from "../test/harness/target-rounding.ts";
import { cleanVerdict, dicomOf, drive, percentile, processCpuSeconds, uploader } from "./load.ts";
import { startFloor } from "./floor/start.ts";
import { PEER_FIELD, PEER_PATH, startPeer } from "./peer.ts";

const SMALL = 39 * 1024;
const LARGE = 20 * 1000 * 1000;
const N = Number(process.env.BENCH_FILES ?? 400);

/** `count` jobs over `clients` concurrent loops: files/s and latency percentiles. */
export async function run(count: number, clients: number, job: (i: number) => Promise<void>) {
  const { seconds, latencies } = await drive(count, clients, job);
  return { files: count, filesPerSecond: Math.round((count / seconds) * 10) / 10, p50Ms: Math.round(percentile(latencies, 50)), p99Ms: Math.round(percentile(latencies, 99)) };
}

type Run = Awaited<ReturnType<typeof run>>;

/**
 * Two runs of raw clamd, one just before the gate's run and one just after, as one: this
 * machine's speed drifts by a fifth within minutes, and a raw run of a second or less taken
 * on one side only made the ratio swing by as much.
 */
function pooled(a: Run, b: Run): Run {
  const seconds = a.files / a.filesPerSecond + b.files / b.filesPerSecond;
  return { files: a.files + b.files, filesPerSecond: Math.round(((a.files + b.files) / seconds) * 10) / 10, p50Ms: Math.max(a.p50Ms, b.p50Ms), p99Ms: Math.max(a.p99Ms, b.p99Ms) };
}

/** CPU seconds (user + system, every thread) of the app's processes: supervisord programs of the scan-daemon group. */
export async function appCpuSeconds(appliance: Appliance): Promise<number> {
  const programs = await appliance.programs();
  let seconds = 0;
  for (const name of Object.keys(programs).filter((n) => n.startsWith("scan-daemon"))) seconds += await processCpuSeconds(await appliance.pid(name));
  return seconds;
}

export type Throughput = Awaited<ReturnType<typeof measureThroughput>>;

/** The issue-15 throughput runs on a started appliance; `files` uploads per small-file run. */
export async function measureThroughput(appliance: Appliance, files = N) {
  const keys = async (tier: string, users: number) => (await Promise.all(Array.from({ length: users }, (_, i) => appliance.key(`bench-${tier}-${i}`, tier)))).map((k) => k.key);
  // Daily counts: free allows 50 files a user, premium 200.
  const free = await keys("free", Math.ceil((3 * files + 60) / 50));
  const premium = await keys("premium", Math.ceil((files + 60) / 200));
  const pixels = randomBytes(LARGE);
  const clamd = new ClamdClient({ host: "127.0.0.1", port: Number(appliance.env.CLAMAV_PORT), timeoutMs: 120_000 });

  /** `count` uploads over `clients` kept-alive connections, each expected clean. */
  const uploads = async (count: number, clients: number, key: () => string, data: (i: number) => Buffer) => {
    const client = uploader(appliance.base);
    try {
      return await run(count, clients, async (i) => {
        const { status, body } = await client.upload(key(), data(i));
        if (status !== 200 || body.result?.status !== "clean") throw new Error(`upload: ${status} ${JSON.stringify(body).slice(0, 300)}`);
      });
    } finally {
      client.close();
    }
  };
  const userOf = (pool: string[], per: number) => {
    let used = 0;
    return () => pool[Math.floor(used++ / per)]!;
  };
  const smallFiles = (count: number) => Array.from({ length: count }, () => dicomOf(SMALL, pixels));

  // Warm-up: the first uploads pay for connections and JIT.
  const nextFree = userOf(free, 50);
  await uploads(40, 8, nextFree, () => dicomOf(SMALL, pixels));

  // clamd remembers the files it found clean: every raw run scans files of its own.
  const rawSmall = () => {
    const raw8files = smallFiles(files);
    return run(files, 8, (i) => clamd.instream(Readable.from([raw8files[i]!]), AbortSignal.timeout(60_000)).then(() => undefined));
  };
  const raw8before = await rawSmall();

  const peer8 = process.env.BENCH_PEER_DIR ? await measurePeer(process.env.BENCH_PEER_DIR, Number(appliance.env.CLAMAV_PORT), smallFiles(files)) : undefined;

  const free8files = smallFiles(files);
  const cpuBefore = await appCpuSeconds(appliance);
  const clientCpuBefore = process.cpuUsage();
  const free8 = await uploads(files, 8, nextFree, (i) => free8files[i]!);
  const clientCpu = process.cpuUsage(clientCpuBefore);
  const cpuMsPerUpload = ceilTo((((await appCpuSeconds(appliance)) - cpuBefore) * 1000) / files, 1);
  const clientCpuMsPerUpload = Math.round(((clientCpu.user + clientCpu.system) / 1000 / files) * 10) / 10;
  const raw8 = pooled(raw8before, await rawSmall());
  const floor8 = await measureFloor(appliance, smallFiles(40 + files));

  const free32files = smallFiles(files);
  const free32 = await uploads(files, 32, nextFree, (i) => free32files[i]!);

  const nextPremium = userOf(premium, 200);
  const premium8files = smallFiles(files);
  const premium8 = await uploads(files, 8, nextPremium, (i) => premium8files[i]!);

  // The free run again, now that the app has taken some 1,300 uploads: V8 has compiled its hot
  // paths, as in a service that has been up a while (after 40 uploads its optimising compiler
  // still takes about a tenth of the app's CPU).
  const warm8files = smallFiles(files);
  const rawWarmBefore = await rawSmall();
  const cpuWarmBefore = await appCpuSeconds(appliance);
  const free8warm = await uploads(files, 8, nextFree, (i) => warm8files[i]!);
  const warmCpuMsPerUpload = ceilTo((((await appCpuSeconds(appliance)) - cpuWarmBefore) * 1000) / files, 1);
  const raw8warm = pooled(rawWarmBefore, await rawSmall());

  const bigCount = 16;
  const rawLarge = () => {
    const rawBigFiles = Array.from({ length: bigCount }, () => dicomOf(LARGE, pixels));
    return run(bigCount, 4, (i) => clamd.instream(Readable.from([rawBigFiles[i]!]), AbortSignal.timeout(120_000)).then(() => undefined));
  };
  const rawBigBefore = await rawLarge();
  const bigFiles = Array.from({ length: bigCount }, () => dicomOf(LARGE, pixels));
  const premiumBig = await uploads(bigCount, 4, nextPremium, (i) => bigFiles[i]!);
  const rawBig = pooled(rawBigBefore, await rawLarge());

  return {
    small: { raw8, peer8, free8, free32, premium8, freeToPeer: peer8 ? Math.round((free8.filesPerSecond / peer8.filesPerSecond) * 100) / 100 : undefined, cpuMsPerUpload, floor8, appToFloorCpu: Math.round((cpuMsPerUpload / floor8.cpuMsPerUpload) * 100) / 100, clientCpuMsPerUpload, freeToRaw: floorTo(free8.filesPerSecond / raw8.filesPerSecond, 3), premiumToFree: floorTo(premium8.filesPerSecond / free8.filesPerSecond, 2), p99OverP50At32: ceilTo(free32.p99Ms / free32.p50Ms, 1), warm: { raw8: raw8warm, free8: free8warm, freeToRaw: floorTo(free8warm.filesPerSecond / raw8warm.filesPerSecond, 3), cpuMsPerUpload: warmCpuMsPerUpload } },
    large: { rawBig, premiumBig, premiumToRaw: floorTo(premiumBig.filesPerSecond / rawBig.filesPerSecond, 2) },
  };
}

/** The floor at 8 clients: the first 40 of `data` to warm it up as the app was, then the rest measured. */
async function measureFloor(appliance: Appliance, data: Buffer[]) {
  const floor = await startFloor(appliance);
  try {
    const upload = async (i: number) => {
      const answer = await floor.upload(data[i]!);
      if (!cleanVerdict(answer)) throw new Error(`floor upload: ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`);
    };
    await drive(40, 8, upload);
    const cpu = () => Promise.all(floor.pids.map(processCpuSeconds)).then((s) => s.reduce((a, b) => a + b, 0));
    const cpuBefore = await cpu();
    const result = await run(data.length - 40, 8, (i) => upload(40 + i));
    return { ...result, cpuMsPerUpload: Math.round((((await cpu()) - cpuBefore) * 1000 * 100) / result.files) / 100 };
  } finally {
    await floor.close();
  }
}

/** The peer wrapper at 8 clients over `data`, each upload expected clean. */
async function measurePeer(checkout: string, clamdPort: number, data: Buffer[]) {
  const peer = await startPeer(checkout, clamdPort);
  const client = uploader(peer.base, { path: PEER_PATH, field: PEER_FIELD });
  try {
    const warm = data.slice(0, 40);
    await run(warm.length, 8, (i) => client.upload(undefined, warm[i]!).then(() => undefined));
    const cpuBefore = await peer.cpuSeconds();
    const result = await run(data.length, 8, async (i) => {
      const { status, body } = await client.upload(undefined, data[i]!);
      const scanned = (body as { data?: { result?: { is_infected: boolean }[] } }).data?.result?.[0];
      if (status !== 200 || !scanned || scanned.is_infected) throw new Error(`peer upload: ${status} ${JSON.stringify(body).slice(0, 300)}`);
    });
    const cpuMsPerUpload = Math.round((((await peer.cpuSeconds()) - cpuBefore) * 1000 * 10) / data.length) / 10;
    return { ...result, cpuMsPerUpload, commit: peer.commit };
  } finally {
    client.close();
    await peer.close();
  }
}
