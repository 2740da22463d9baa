import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import type { ScanResult } from "../../app/verdict/scan-result.ts";
import { buildDicom, text } from "../fixtures/dicom.ts";
import { deflateBombDicom, executableElementsDicom, longMetaDicom } from "../fixtures/hostile.ts";
import type { Appliance } from "./appliance.ts";
import { ceilTo } from "./target-rounding.ts";

const MiB = 1024 * 1024;
const execFileAsync = promisify(execFile);
const FINAL = new Set(["clean", "suspicious", "infected", "error"]);
const WARD_USERS = 12;
const FREE_PER_DAY = 50;

/** A distinct 39 KB DICOM, the size of pydicom's CT_small.dcm. */
function smallStudy(): Buffer {
  return buildDicom({
    elements: [
      { group: 0x0008, element: 0x0018, vr: "UI", value: text(`2.25.${BigInt(`0x${randomUUID().replace(/-/g, "")}`)}`) },
      { group: 0x0008, element: 0x0060, vr: "CS", value: text("CT") },
      { group: 0x7fe0, element: 0x0010, vr: "OW", value: Buffer.alloc(39 * 1024, 0x22) },
    ],
  });
}

const quantile = (sorted: readonly number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

export type Isolation = Awaited<ReturnType<typeof measureIsolation>>;

/**
 * Issue 15's isolation run on a started appliance: the p50 of a ward's 39 KB free uploads from 4
 * clients with nothing else running, then the same uploads while a gold tenant's long-meta, 100 MB executable-laden
 * and 1,000× deflate-bomb DICOMs are scanned, with /health probed every 250 ms. Used by
 * test/load/isolation.test.ts (generous bounds) and by `npm run bench` (the ratios).
 */
export async function measureIsolation(appliance: Appliance) {
  const attacker = (await appliance.key("isolation-attacker", "gold")).key;
  const ward = (await Promise.all(Array.from({ length: WARD_USERS }, (_, i) => appliance.key(`isolation-ward-${i}`, "free")))).map((k) => k.key);
  let sent = 0;
  /** One 39 KB upload, by the next ward user with files left today; undefined when all are used up. */
  const timedSmall = async (): Promise<number | undefined> => {
    const user = ward[Math.floor(sent++ / FREE_PER_DAY)];
    if (!user) return undefined;
    const t = performance.now();
    const form = new FormData();
    form.append("file", new Blob([smallStudy()]), "ct.dcm");
    const res = await fetch(`${appliance.base}/api/medical-files/upload?wait=30`, { method: "POST", body: form, headers: { authorization: `Bearer ${user}` } });
    const body = (await res.json()) as { result?: ScanResult };
    if (res.status !== 200 || body.result?.status !== "clean") throw new Error(`a ward upload: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
    return performance.now() - t;
  };
  /**
   * The hostile file's final verdict, however long the upload's own wait was. curl sends it, from
   * its own process as an attacker's machine would, so this process only measures the ward's uploads.
   */
  const verdict = async (file: string): Promise<{ status: string; ms: number }> => {
    const t = performance.now();
    const { stdout } = await execFileAsync("curl", ["-sS", "-H", `Authorization: Bearer ${attacker}`, "-F", `file=@${file}`, `${appliance.base}/api/medical-files/upload?wait=60`], { maxBuffer: 64 * MiB });
    const body = JSON.parse(stdout) as { fileId: string; result?: ScanResult };
    if (body.result) return { status: body.result.status, ms: performance.now() - t };
    for (;;) {
      const res = await fetch(`${appliance.base}/api/medical-files/${body.fileId}`, { headers: { authorization: `Bearer ${attacker}` } });
      const { status } = (await res.json()) as { status: string };
      if (FINAL.has(status)) return { status, ms: performance.now() - t };
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  /** The ward's own load: 4 clients, each uploading, pausing 100 ms, uploading again, until `done`. */
  const wardLoad = (into: number[], done: () => boolean) =>
    Array.from({ length: 4 }, async () => {
      while (!done()) {
        const ms = await timedSmall();
        if (ms === undefined) return;
        into.push(ms);
        await new Promise((r) => setTimeout(r, 100));
      }
    });

  // "Their idle p50": the same load with nothing else running, so that the ratio measures the attack alone.
  const idle: number[] = [];
  await Promise.all(wardLoad(idle, () => idle.length >= 60));
  const idleP50 = quantile([...idle].sort((a, b) => a - b), 0.5);

  const hostile = [
    { name: "long-meta.dcm", data: longMetaDicom(10 * MiB - 4096) },
    { name: "exec-elements.dcm", data: executableElementsDicom(110_000, 900) },
    { name: "bomb.dcm", data: await deflateBombDicom(100 * MiB) },
  ];
  const files = await Promise.all(
    hostile.map(async (f) => {
      const file = path.join(appliance.home, f.name);
      await writeFile(file, f.data);
      return file;
    }),
  );
  let attackOver = false;
  const health: { ok: boolean; ms: number }[] = [];
  const probing = (async () => {
    while (!attackOver) {
      const t = performance.now();
      const ok = await fetch(`${appliance.base}/health`, { signal: AbortSignal.timeout(5000) }).then((r) => r.ok, () => false);
      health.push({ ok, ms: performance.now() - t });
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  // The attack's curls are spawned before the ward's clients start: spawning blocks this
  // process's event loop (about 90 ms for three), which would count against the ward's uploads.
  const attack = Promise.all(files.map((f) => verdict(f)));
  const busy: number[] = [];
  const wardClients = wardLoad(busy, () => attackOver);
  const verdicts = await attack;
  attackOver = true;
  await Promise.all([probing, ...wardClients]);

  const sorted = [...busy].sort((a, b) => a - b);
  const p50 = quantile(sorted, 0.5);
  const p99 = quantile(sorted, 0.99);
  return {
    idleP50Ms: Math.round(idleP50),
    uploads: busy.length,
    p50Ms: Math.round(p50),
    p99Ms: Math.round(p99),
    p99OverIdleP50: ceilTo(p99 / idleP50, 1),
    hostile: verdicts.map((v, i) => ({ name: hostile[i]!.name, status: v.status, seconds: Math.round(v.ms / 100) / 10 })),
    health: { probes: health.length, failedOrSlow: health.filter((h) => !h.ok || h.ms >= 2000).length, worstMs: Math.round(Math.max(0, ...health.map((h) => h.ms))) },
  };
}
