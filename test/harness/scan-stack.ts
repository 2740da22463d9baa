import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { loadConfig, type Config } from "../../app/config.ts";
import type { ScanResult } from "../../app/verdict/scan-result.ts";
import { createScanEngine, type ScanEngine } from "../../app/scan-engine.ts";
import type { ScanRequest } from "../../app/scan/scanner.ts";
import type { Tier } from "../../app/verdict/tiers.ts";
import { ClamdInstance } from "./clamd.ts";

export interface ScanStack {
  readonly clamd: ClamdInstance;
  readonly engine: ScanEngine;
  readonly config: Config;
  readonly dir: string;
  /** Writes bytes to a fresh file in the stack's folder and returns its path. */
  file(name: string, data: Buffer): Promise<string>;
  scan(filePath: string, tier: Tier, extra?: Partial<ScanRequest>): Promise<ScanResult>;
  close(): Promise<void>;
}

let seq = 0;

/** A real clamd plus the scanning core built from a real config pointing at it. */
export async function startScanStack(env: Record<string, string> = {}): Promise<ScanStack> {
  const clamd = await ClamdInstance.start();
  const dir = await mkdtemp(path.join(os.tmpdir(), "msd-stack-"));
  try {
    const config = loadConfig({ ...clamd.env(), SCAN_TMP_DIR: path.join(dir, "work"), ...env });
    const engine = await createScanEngine(config);
    return {
      clamd,
      engine,
      config,
      dir,
      async file(name, data) {
        const sub = path.join(dir, `f${++seq}`);
        await mkdir(sub);
        const p = path.join(sub, name);
        await writeFile(p, data);
        return p;
      },
      scan: (filePath, tier, extra = {}) => engine.pipeline.scan({ path: filePath, tier, declaredName: path.basename(filePath), ...extra }),
      async close() {
        await engine.close();
        await clamd.destroy();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await clamd.destroy();
    throw err;
  }
}

/** A scanning core of its own for one piece of work, its engine threads ended afterwards. */
export async function withScanEngine<T>(config: Config, work: (engine: ScanEngine) => Promise<T>): Promise<T> {
  const engine = await createScanEngine(config);
  try {
    return await work(engine);
  } finally {
    await engine.close();
  }
}

export function describeResult(r: ScanResult): string {
  return JSON.stringify({ status: r.status, findings: r.findings.map((f) => `${f.engine}:${f.id}@${f.target}`), engines: r.engines });
}
