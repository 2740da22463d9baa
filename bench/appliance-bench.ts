/**
 * `npm run bench`: the appliance end to end over HTTP, with the raw engines on the same files in
 * the same run, written to bench/results.json and BENCHMARKS.md. Measures:
 * - files/s and p50/p95/p99 latency (upload start to verdict, `?wait`) at 1, 8 and 32 clients,
 *   for 128 KB and 20 MB DICOM, gold tier (validation, ClamAV, YARA-X, analysis);
 * - raw clamd INSTREAM and raw YARA-X over the same files, one at a time, and the ratio;
 * - peak RSS above idle of each app process (intake, worker) while a 500 MB enterprise upload streams through;
 * - the throughput runs of bench/throughput.ts: 39 KB free and premium against raw clamd, the app's
 *   CPU per upload, p99/p50 at 32 clients, 20 MB premium against raw clamd;
 * - time from starting the appliance to its first passing health check, and from restarting the
 *   app to /health/ready.
 */
import { createReadStream, openAsBlob } from "node:fs";
import { mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { ClamdClient } from "../app/engines/clamav/clamd-client.ts";
import { compileDir } from "../app/engines/yara/yara-rules.ts";
import { BASIC_ELEMENTS, buildDicom, text } from "../test/fixtures/dicom.ts";
import { Appliance } from "../test/harness/appliance.ts";
import { ROOT } from "../test/harness/clamd.ts";
import { eventually } from "../test/harness/service-stack.ts";
import { dicomOf, drive, percentile } from "./load.ts";
import { formatReport, type Report } from "./report.ts";
import { measureIsolation } from "../test/harness/isolation-run.ts";
import { measureThroughput } from "./throughput.ts";

const SIZES = [{ label: "128 KB", bytes: 128 * 1024 }, { label: "20 MB", bytes: 20 * 1000 * 1000 }] as const;
const CLIENTS = [1, 8, 32] as const;
const quick = process.env.BENCH_QUICK === "true";
/** Uploads per run: enough for a p99 on small files, bounded for big ones. */
const uploadsFor = (bytes: number, clients: number) => (quick ? clients * 2 : bytes < 1e6 ? Math.max(60, clients * 8) : Math.max(8, clients * 2));
const BIG = 500 * 1000 * 1000;

async function upload(base: string, key: string, body: Blob, name: string): Promise<void> {
  const form = new FormData();
  form.append("file", body, name);
  const res = await fetch(`${base}/api/medical-files/upload?wait=120`, { method: "POST", body: form, headers: { authorization: `Bearer ${key}` } });
  const answer = (await res.json()) as { result?: { status: string } };
  if (res.status !== 200 || answer.result?.status !== "clean") throw new Error(`bench upload ${name}: ${res.status} ${JSON.stringify(answer).slice(0, 300)}`);
}

async function endToEnd(base: string, key: string, bytes: number, clients: number, pixels: Buffer) {
  const total = uploadsFor(bytes, clients);
  const { seconds, latencies } = await drive(total, clients, () => upload(base, key, new Blob([dicomOf(bytes, pixels)]), "IM0001.dcm"));
  return { files: total, filesPerSecond: total / seconds, mbPerSecond: (total * bytes) / 1e6 / seconds, p50Ms: percentile(latencies, 50), p95Ms: percentile(latencies, 95), p99Ms: percentile(latencies, 99) };
}

/** Raw engines over files like the uploads, one at a time: seconds per file. */
async function rawEngines(dir: string, bytes: number, pixels: Buffer, clamd: ClamdClient, rules: Awaited<ReturnType<typeof compileDir>>) {
  const files: string[] = [];
  for (let i = 0; i < (bytes < 1e6 ? 40 : 6); i++) {
    const f = path.join(dir, `raw-${bytes}-${i}.dcm`);
    await writeFile(f, dicomOf(bytes, pixels));
    files.push(f);
  }
  const time = async (fn: (f: string) => Promise<unknown>) => {
    await fn(files[0]!);
    const t = performance.now();
    for (const f of files) await fn(f);
    return (performance.now() - t) / 1000 / files.length;
  };
  const clamdS = await time((f) => clamd.instream(createReadStream(f, { highWaterMark: 256 * 1024 }), AbortSignal.timeout(120_000)));
  const yaraS = await time((f) => rules.engine.scanFileAsync(f));
  return { clamdFilesPerSecond: 1 / clamdS, yaraFilesPerSecond: 1 / yaraS, bothFilesPerSecond: 1 / (clamdS + yaraS) };
}

function rssKb(pid: number): Promise<number> {
  return readFile(`/proc/${pid}/status`, "utf8").then((s) => Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0));
}

/** Streams a 500 MB DICOM from disk through the enterprise tier, sampling each app process's RSS every 50 ms. */
async function bigUpload(appliance: Appliance, key: string, dir: string) {
  const file = path.join(dir, "big.dcm");
  const head = buildDicom({ elements: [...BASIC_ELEMENTS.filter((e) => e.group !== 0x7fe0), { group: 0x0020, element: 0x000d, vr: "UI", value: text("1.2.826.0.5.500") }] });
  const pixelsHeader = Buffer.alloc(12);
  pixelsHeader.writeUInt16LE(0x7fe0, 0);
  pixelsHeader.writeUInt16LE(0x0010, 2);
  pixelsHeader.write("OB", 4, "latin1");
  const pixelBytes = BIG - head.length - pixelsHeader.length;
  pixelsHeader.writeUInt32LE(pixelBytes, 8);
  const handle = await open(file, "w");
  await handle.write(Buffer.concat([head, pixelsHeader]));
  const chunk = randomBytes(8 * 1024 * 1024);
  for (let left = pixelBytes; left > 0; left -= chunk.length) await handle.write(chunk, 0, Math.min(left, chunk.length));
  await handle.close();
  const pids = await appliance.appPids();
  await new Promise((r) => setTimeout(r, 2000));
  const processes = await Promise.all(Object.entries(pids).map(async ([name, pid]) => ({ name, pid, idleKb: await rssKb(pid), peakKb: 0 })));
  for (const p of processes) p.peakKb = p.idleKb;
  const sampler = setInterval(() => {
    for (const p of processes) void rssKb(p.pid).then((kb) => (p.peakKb = Math.max(p.peakKb, kb)));
  }, 50);
  const t = performance.now();
  try {
    await upload(appliance.base, key, await openAsBlob(file), "big.dcm");
  } finally {
    clearInterval(sampler);
  }
  const perProcess = processes.map((p) => ({ name: p.name, idleRssMb: p.idleKb / 1024, peakRssMb: p.peakKb / 1024, aboveIdleMb: (p.peakKb - p.idleKb) / 1024 }));
  return { bytes: BIG, seconds: (performance.now() - t) / 1000, processes: perProcess, aboveIdleMb: Math.max(...perProcess.map((p) => p.aboveIdleMb)) };
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "msd-bench-"));
  const appliance = await Appliance.start({ CLAMAV_OFFICIAL_DATABASES: "false" });
  try {
    const gold = (await appliance.key("bench-gold", "gold")).key;
    const enterprise = (await appliance.key("bench-enterprise", "enterprise")).key;
    const clamd = new ClamdClient({ host: "127.0.0.1", port: Number(appliance.env.CLAMAV_PORT), timeoutMs: 120_000 });
    const rules = await compileDir(path.join(ROOT, "rules/yara"));
    const pixels = randomBytes(20 * 1000 * 1000);
    const date = new Date().toISOString();
    const sizes: Report["sizes"] = [];
    for (const size of SIZES) {
      const raw = await rawEngines(dir, size.bytes, pixels, clamd, rules);
      const runs = [];
      for (const clients of CLIENTS) {
        const run = await endToEnd(appliance.base, gold, size.bytes, clients, pixels);
        runs.push({ clients, ...run, ratioToRaw: run.filesPerSecond / raw.bothFilesPerSecond });
        console.log(`${size.label} × ${clients} clients: ${run.filesPerSecond.toFixed(1)} files/s, p50 ${run.p50Ms.toFixed(0)} ms, p99 ${run.p99Ms.toFixed(0)} ms`);
      }
      sizes.push({ label: size.label, bytes: size.bytes, raw, runs });
    }
    const big = await bigUpload(appliance, enterprise, dir);
    console.log(`500 MB upload: ${big.seconds.toFixed(1)} s, RSS +${big.aboveIdleMb.toFixed(1)} MB above idle in the worst process`);
    const throughput = await measureThroughput(appliance);
    console.log(JSON.stringify(throughput));
    const isolation = await measureIsolation(appliance);
    console.log(JSON.stringify(isolation));
    const restartAt = performance.now();
    await appliance.run("scripts/appliance-ctl.sh", ["restart", "scan-daemon:*"]);
    await eventually(async () => (await fetch(`${appliance.base}/health/ready`).catch(() => null))?.status === 200, 60_000, "the app to be ready again");
    const report: Report = {
      machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
      date,
      sizes,
      bigUpload: big,
      throughput,
      isolation,
      startup: { applianceToHealthyMs: appliance.bootMs, appRestartToReadyMs: performance.now() - restartAt },
    };
    await writeFile(path.join(ROOT, "bench/results.json"), `${JSON.stringify(report, null, 2)}\n`);
    const previous = await readFile(path.join(ROOT, "BENCHMARKS.md"), "utf8").catch(() => "");
    await writeFile(path.join(ROOT, "BENCHMARKS.md"), formatReport(report, previous));
    console.log(formatReport(report));
  } finally {
    await appliance.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
