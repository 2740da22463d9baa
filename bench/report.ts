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
  readonly bigUpload: { readonly bytes: number; readonly seconds: number; readonly idleRssMb: number; readonly peakRssMb: number; readonly aboveIdleMb: number };
  readonly startup: { readonly applianceToHealthyMs: number; readonly appRestartToReadyMs: number };
}

const f1 = (n: number) => n.toFixed(1);
const ms = (n: number) => `${Math.round(n)} ms`;

/** BENCHMARKS.md from one run's report. */
export function formatReport(r: Report): string {
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
    "| 500 MB enterprise upload, streamed from disk | |",
    "|---|---:|",
    `| upload to verdict | ${f1(big.seconds)} s |`,
    `| app RSS idle | ${f1(big.idleRssMb)} MB |`,
    `| app RSS peak (sampled every 50 ms) | ${f1(big.peakRssMb)} MB |`,
    `| **above idle** (target under 100 MB) | **${f1(big.aboveIdleMb)} MB** |`,
    "",
    "| start-up | |",
    "|---|---:|",
    `| appliance.sh to the first passing health-check.sh (all programs up, clamd loaded) | ${ms(r.startup.applianceToHealthyMs)} |`,
    `| \`supervisorctl restart scan-daemon\` to \`/health/ready\` 200 | ${ms(r.startup.appRestartToReadyMs)} |`,
    "",
  );
  return lines.join("\n");
}
