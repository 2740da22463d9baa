import { lstat, opendir } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import cliProgress from "cli-progress";
import { loadConfig } from "../config.ts";
import { withTimeoutSignal } from "../deadline.ts";
import { parseMaxThreads } from "../engines/clamav/clamd-reply.ts";
import { createScanEngine, type ScanEngine } from "../scan-engine.ts";
import type { ScanResult } from "../verdict/scan-result.ts";
import { isTier, TIERS, type Tier } from "../verdict/tiers.ts";

const USAGE = `usage: scan-daemon scan PATH... [--tier ${TIERS.join("|")}] [--concurrency N] [--json]`;
const MAX_CONCURRENCY = 64;
const SLOWEST_SHOWN = 5;

export interface ScanCommandIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  /** Where the progress bar goes: the terminal behind stderr, or nothing when it is not one. */
  readonly terminal?: NodeJS.WriteStream;
}

interface Done {
  readonly file: string;
  readonly bytes: number;
  readonly ms: number;
  readonly result: ScanResult;
}

/**
 * `scan-daemon scan PATH...`: files and whole study folders (recursively; symbolic links are
 * not followed), scanned through the pipeline `--concurrency` at a time (default: clamd's
 * threads). stdout has one line per file in the order given, human or `--json`; stderr has the
 * progress bar when it is a terminal, and a summary at the end.
 * Exit 0 all clean, 1 something not clean, 2 an error.
 */
export async function scanCommand(args: string[], io: ScanCommandIo): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { tier: { type: "string", default: "free" }, json: { type: "boolean", default: false }, concurrency: { type: "string" } } });
  const tier = values.tier!;
  const concurrency = values.concurrency === undefined ? undefined : Number(values.concurrency);
  if (!isTier(tier) || positionals.length === 0 || (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= MAX_CONCURRENCY))) {
    io.err(`${USAGE}\n  --concurrency: 1 to ${MAX_CONCURRENCY} (default: clamd's threads)`);
    return 2;
  }
  const { files, skipped } = await listFiles(positionals);
  if (files.length === 0) {
    io.err(`no files to scan under ${positionals.join(", ")}`);
    return 2;
  }
  const config = loadConfig();
  const engine = await createScanEngine(config);
  try {
    const width = Math.min(files.length, concurrency ?? (await clamdThreads(engine)) ?? config.queue.concurrency);
    const started = performance.now();
    const done = await scanAll(engine, files, tier, width, values.json ? (d) => JSON.stringify({ file: d.file, ...d.result }) : (d) => humanLine(d.file, d.result), io);
    io.err(summary(done, skipped, performance.now() - started, width));
    // A fold, not Math.max(...): a study folder can hold more files than a call takes arguments.
    return done.reduce((worst, d) => Math.max(worst, d.result.status === "clean" ? 0 : d.result.status === "error" ? 2 : 1), 0);
  } finally {
    await engine.close();
  }
}

/** Runs `width` scans at a time; lines come out in the order of `files`, each as soon as those before it are out. */
async function scanAll(engine: ScanEngine, files: readonly { file: string; bytes: number }[], tier: Tier, width: number, format: (d: Done) => string, io: ScanCommandIo): Promise<Done[]> {
  const done: (Done | undefined)[] = new Array(files.length);
  const bar = io.terminal ? new cliProgress.SingleBar({ stream: io.terminal, format: "{bar} {value}/{total} files | {mb} MB | {eta_formatted} left", hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic) : null;
  bar?.start(files.length, 0, { mb: "0.0" });
  let next = 0;
  let printed = 0;
  let bytesDone = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < files.length) {
        const i = next++;
        const { file, bytes } = files[i]!;
        const t = performance.now();
        const result = await engine.pipeline.scan({ path: path.resolve(file), tier, declaredName: path.basename(file) });
        done[i] = { file, bytes, ms: performance.now() - t, result };
        bytesDone += bytes;
        bar?.increment(1, { mb: (bytesDone / 1e6).toFixed(1) });
        for (; printed < files.length && done[printed]; printed++) io.out(format(done[printed]!));
      }
    }),
  );
  bar?.stop();
  return done as Done[];
}

/** Every regular file named or under a named folder, in a stable order; anything else is counted as skipped. */
async function listFiles(paths: readonly string[]): Promise<{ files: { file: string; bytes: number }[]; skipped: number }> {
  const files: { file: string; bytes: number }[] = [];
  let skipped = 0;
  const visit = async (p: string, named: boolean): Promise<void> => {
    const info = await lstat(p).catch(() => null);
    if (info?.isDirectory()) {
      const entries: string[] = [];
      for await (const entry of await opendir(p)) entries.push(entry.name);
      for (const name of entries.sort()) await visit(path.join(p, name), false);
    } else if (info?.isFile() || (named && info)) {
      // A named path that is not a plain file (a link, a device) is scanned as the user asked; the pipeline says what it found.
      files.push({ file: p, bytes: info.isFile() ? info.size : 0 });
    } else if (named) {
      files.push({ file: p, bytes: 0 });
    } else {
      skipped++;
    }
  };
  for (const p of paths) await visit(p, true);
  return { files, skipped };
}

/** clamd's thread count (STATS), so that the CLI keeps every clamd thread busy and no more. */
async function clamdThreads(engine: ScanEngine): Promise<number | null> {
  const reply = await withTimeoutSignal(5000, (signal) => engine.clamd.command("STATS", signal)).catch(() => "");
  return parseMaxThreads(reply);
}

function humanLine(file: string, r: ScanResult): string {
  const ids = r.findings.filter((f) => f.verdict !== "info").map((f) => f.id);
  const errors = Object.entries(r.engines).flatMap(([name, run]) => (run.error ? [`${name}: ${run.error.code}`] : []));
  return [`${file}: ${r.status}`, r.threatLevel !== "clean" ? `(${r.threatLevel})` : "", ids.join(", "), errors.join("; ")].filter(Boolean).join(" ");
}

/** Counts by status, the slowest files and the rate, for the person at the terminal. */
export function summary(done: readonly Done[], skipped: number, ms: number, width: number): string {
  const bytes = done.reduce((s, d) => s + d.bytes, 0);
  const counts = new Map<string, number>();
  for (const d of done) counts.set(d.result.status, (counts.get(d.result.status) ?? 0) + 1);
  const order = ["clean", "suspicious", "infected", "error"];
  const byStatus = [...counts].sort((a, b) => order.indexOf(a[0]) - order.indexOf(b[0])).map(([status, n]) => `${status} ${n}`);
  const seconds = ms / 1000;
  const lines = [
    `scanned ${done.length} file${done.length === 1 ? "" : "s"} (${(bytes / 1e6).toFixed(1)} MB) in ${seconds.toFixed(1)} s, ${width} at a time: ${(bytes / 1e6 / Math.max(seconds, 0.001)).toFixed(1)} MB/s`,
    `  ${byStatus.join(" · ")}${skipped > 0 ? ` · skipped ${skipped} (not regular files)` : ""}`,
  ];
  const slowest = [...done].sort((a, b) => b.ms - a.ms).slice(0, Math.min(SLOWEST_SHOWN, done.length > 1 ? done.length : 0));
  if (slowest.length > 0) lines.push("slowest:", ...slowest.map((d) => `  ${(d.ms / 1000).toFixed(2).padStart(7)} s  ${d.file}`));
  return lines.join("\n");
}
