import { BASIC_ELEMENTS, buildDicom, text } from "../test/fixtures/dicom.ts";

let seq = 0;
/** A DICOM of about `bytes` with random pixel data (like compressed images) and a UID of its own, so no result comes from the cache. */
export function dicomOf(bytes: number, pixels: Buffer): Buffer {
  const uid = { group: 0x0020, element: 0x000d, vr: "UI", value: text(`1.2.826.0.5.${process.pid}.${++seq}`) };
  return buildDicom({ elements: [...BASIC_ELEMENTS.filter((e) => e.group !== 0x7fe0), uid, { group: 0x7fe0, element: 0x0010, vr: "OB", value: pixels.subarray(0, bytes - 400) }] });
}

export const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

/** `count` jobs over `clients` loops that run them back to back: how long it all took, and each job's latency, sorted. */
export async function drive(count: number, clients: number, job: (i: number) => Promise<void>): Promise<{ seconds: number; latencies: number[] }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < count) {
        const i = next++;
        const t = performance.now();
        await job(i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { seconds: (performance.now() - started) / 1000, latencies: latencies.sort((a, b) => a - b) };
}
