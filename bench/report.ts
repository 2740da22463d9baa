import type { Isolation } from "../test/harness/isolation-run.ts";
import type { Throughput } from "./throughput.ts";

export interface EndToEndRun {
  readonly clients: number;
  readonly files: number;
  readonly filesPerSecond: number;
  readonly mbPerSecond: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  /** End-to-end files/s over raw clamd + YARA-X files/s (one file at a time) on the same files. */
  readonly ratioToRaw: number;
}

export interface Report {
  readonly machine: string;
  readonly date: string;
  readonly sizes: {
    readonly label: string;
    readonly bytes: number;
    readonly raw: { readonly clamdFilesPerSecond: number; readonly yaraFilesPerSecond: number; readonly bothFilesPerSecond: number };
    readonly runs: EndToEndRun[];
  }[];
  readonly bigUpload: {
    readonly bytes: number;
    readonly seconds: number;
    readonly processes: readonly { readonly name: string; readonly idleRssMb: number; readonly peakRssMb: number; readonly aboveIdleMb: number }[];
    readonly aboveIdleMb: number;
  };
  readonly throughput: Throughput;
  readonly isolation: Isolation;
  readonly startup: { readonly applianceToHealthyMs: number; readonly appRestartToReadyMs: number };
}

const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);
const ms = (n: number) => `${Math.round(n)} ms`;

/** The hand-written history after the generated part: kept from the `## ` heading on. */
function history(previous: string): string {
  const at = previous.indexOf("\n## ");
  return at === -1 ? "" : previous.slice(at + 1);
}

/** BENCHMARKS.md from one run's report, followed by the history sections of the previous file. */
export function formatReport(r: Report, previous = ""): string {
  const lines = [
    "# Benchmarks",
    "",
    "Written by `npm run bench` (bench/appliance-bench.ts); the same numbers are in `bench/results.json`.",
    "One run of the native appliance (supervisord, clamd with the test definitions, Redis, the built app)",
    "on this machine; these machines are noisy, so compare the ratios, which come from the same run.",
    "",
    `- Machine: ${r.machine}`,
    `- Run: ${r.date}`,
    "- End to end: multipart upload over HTTP with `?wait=120`, from the first byte sent to the verdict",
    "  received; gold tier (validation, ClamAV, YARA-X basic and advanced, analysis); every file distinct,",
    "  so no result comes from the cache. Clients upload back to back.",
    "- Raw: clamd INSTREAM and YARA-X `scanFileAsync` on files of the same size and content, one at a time.",
    "  Ratio = end-to-end files/s ÷ raw (clamd + YARA-X) files/s.",
    "",
    "| file | clients | files | files/s | MB/s | p50 | p95 | p99 | ratio to raw |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const size of r.sizes) {
    for (const run of size.runs) {
      lines.push(`| ${size.label} DICOM | ${run.clients} | ${run.files} | ${f1(run.filesPerSecond)} | ${f1(run.mbPerSecond)} | ${ms(run.p50Ms)} | ${ms(run.p95Ms)} | ${ms(run.p99Ms)} | ${run.ratioToRaw.toFixed(2)} |`);
    }
  }
  lines.push("", "| file | raw clamd files/s | raw YARA-X files/s | raw clamd + YARA-X files/s |", "|---|---:|---:|---:|");
  for (const size of r.sizes) lines.push(`| ${size.label} DICOM | ${f1(size.raw.clamdFilesPerSecond)} | ${f1(size.raw.yaraFilesPerSecond)} | ${f1(size.raw.bothFilesPerSecond)} |`);
  const big = r.bigUpload;
  lines.push(
    "",
    `| 500 MB enterprise upload, streamed from disk: ${f1(big.seconds)} s to the verdict | RSS idle | RSS peak (every 50 ms) | above idle (target under 100 MB) |`,
    "|---|---:|---:|---:|",
    ...big.processes.map((p) => `| ${p.name} | ${f1(p.idleRssMb)} MB | ${f1(p.peakRssMb)} MB | **${f1(p.aboveIdleMb)} MB** |`),
    "",
    ...throughputTable(r.throughput),
    ...isolationRows(r.isolation),
    "",
    "| start-up | |",
    "|---|---:|",
    `| appliance.sh to the first passing health-check.sh (all programs up, clamd loaded) | ${ms(r.startup.applianceToHealthyMs)} |`,
    `| \`supervisorctl restart scan-daemon\` to \`/health/ready\` 200 | ${ms(r.startup.appRestartToReadyMs)} |`,
    "",
  );
  const rest = history(previous);
  return `${lines.join("\n")}${rest ? `\n${rest}` : ""}`;
}

/** The issue-15 targets, each with this run's number. */
function throughputTable(t: Throughput): string[] {
  const { small, large } = t;
  const met = (ok: boolean) => (ok ? "met" : "**not met**");
  return [
    "| throughput (bench/throughput.ts), every upload a distinct file, `?wait` | this run | target | |",
    "|---|---:|---:|---|",
    `| 39 KB free, 8 clients: files/s ÷ raw clamd at 8 connections (${f1(small.free8.filesPerSecond)} ÷ ${f1(small.raw8.filesPerSecond)}) | ${small.freeToRaw.toFixed(3)} | ≥ 0.20 | ${met(small.freeToRaw >= 0.2)} |`,
    ...(small.peer8 && small.freeToPeer !== undefined
      ? [`| 39 KB free, 8 clients ÷ the Node ClamAV REST wrapper (benzino77/clamav-rest-api ${small.peer8.commit}) on the same clamd, 8 clients (${f1(small.free8.filesPerSecond)} ÷ ${f1(small.peer8.filesPerSecond)}; the wrapper ÷ raw: ${(small.peer8.filesPerSecond / small.raw8.filesPerSecond).toFixed(3)}; its CPU per upload: ${f1(small.peer8.cpuMsPerUpload)} ms) | ${small.freeToPeer.toFixed(2)} | | |`]
      : []),
    `| the same once warm, after some 1,300 uploads (${f1(small.warm.free8.filesPerSecond)} ÷ ${f1(small.warm.raw8.filesPerSecond)}; app CPU ${f1(small.warm.cpuMsPerUpload)} ms per upload) | ${small.warm.freeToRaw.toFixed(3)} | | steady state, beside the line above |`,
    `| premium ÷ free, 8 clients | ${small.premiumToFree.toFixed(2)} | ≥ 0.85 | ${met(small.premiumToFree >= 0.85)} |`,
    `| 39 KB free, 32 clients: p99 ÷ p50 (${ms(small.free32.p99Ms)} ÷ ${ms(small.free32.p50Ms)}) | ${small.p99OverP50At32.toFixed(1)} | ≤ 3 | ${met(small.p99OverP50At32 <= 3)} |`,
    `| app CPU per 39 KB free upload, every app process and thread (/proc); the load generator on the same cores took ${f1(small.clientCpuMsPerUpload)} ms | ${f1(small.cpuMsPerUpload)} ms | ≤ 4 ms | ${met(small.cpuMsPerUpload <= 4)} |`,
    `| the same, ÷ the stack's floor (bench/floor/gate.ts: Koa, koa-body, SQLite, Bull and clamd doing only what a durable, queued, two-program gate must), started afresh and run alone after the same 40 uploads: ${f2(small.floor8.cpuMsPerUpload)} ms per upload at ${f1(small.floor8.filesPerSecond)} files/s | ${small.appToFloorCpu.toFixed(2)} | | what the app adds to its stack |`,
    `| 20 MB premium, 4 clients: files/s ÷ raw clamd at 4 connections (${f1(large.premiumBig.filesPerSecond)} ÷ ${f1(large.rawBig.filesPerSecond)}) | ${large.premiumToRaw.toFixed(2)} | ≥ 0.80 | ${met(large.premiumToRaw >= 0.8)} |`,
  ];
}

/** The isolation target's rows, continuing the throughput table (test/harness/isolation-run.ts). */
function isolationRows(i: Isolation): string[] {
  const met = (ok: boolean) => (ok ? "met" : "**not met**");
  const hostileOk = i.hostile.every((h) => h.status !== "clean" && h.seconds < 60);
  return [
    `| isolation: a ward's 39 KB free uploads (4 clients, ${i.uploads} uploads) while a gold tenant's three hostile DICOMs are scanned: p99 ÷ idle p50, the idle p50 from the same 4-client load with nothing else running (${ms(i.p99Ms)} ÷ ${ms(i.idleP50Ms)}) | ${i.p99OverIdleP50.toFixed(1)} | ≤ 5 | ${met(i.p99OverIdleP50 <= 5)} |`,
    `| isolation: the ward's p99 under attack | ${ms(i.p99Ms)} | ≤ 2000 ms | ${met(i.p99Ms <= 2000)} |`,
    `| isolation: each hostile file's final verdict (${i.hostile.map((h) => `${h.name} ${h.status} in ${h.seconds} s`).join(", ")}) | not clean | not clean, ≤ 60 s | ${met(hostileOk)} |`,
    `| isolation: /health every 250 ms during the attack (${i.health.probes} probes, slowest ${ms(i.health.worstMs)}) | ${i.health.failedOrSlow} failed or ≥ 2 s | 0 | ${met(i.health.failedOrSlow === 0)} |`,
  ];
}
