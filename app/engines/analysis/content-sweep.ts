import { createReadStream } from "node:fs";
import { EXECUTABLE_PROBE_BYTES, executableAt, type ExecutableKind } from "../validation/executable-header.ts";
import { shannonEntropy } from "./entropy.ts";
import { pdfActionsIn, type PdfActionId } from "./pdf-actions.ts";

export interface Sweep {
  readonly executables: { offset: number; kind: ExecutableKind }[];
  /** Offsets of 64 KiB windows whose entropy is at least HIGH_ENTROPY bits per byte. */
  readonly highEntropyWindows: number[];
  readonly pdfActions: Set<PdfActionId>;
}

export const ENTROPY_WINDOW = 64 * 1024;
export const HIGH_ENTROPY = 7.2;
const MAX_EXECUTABLES = 16;
const MAGICS = [Buffer.from("MZ"), Buffer.from([0x7f, 0x45, 0x4c, 0x46]), ...[0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe].map((m) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(m);
  return b;
})];

/**
 * One pass over a file: executable headers anywhere but offset 0, entropy per window and,
 * for PDFs, active-content names. Chunks overlap by a probe's length so a header across a
 * chunk boundary is still seen.
 */
export async function sweepFile(path: string, opts: { pdf: boolean; signal: AbortSignal; onBytes: (n: number) => void }): Promise<Sweep> {
  const sweep: Sweep = { executables: [], highEntropyWindows: [], pdfActions: new Set() };
  let carry = Buffer.alloc(0);
  let carryStart = 0;
  let window: Buffer[] = [];
  let windowBytes = 0;
  let windowStart = 0;
  let read = 0;
  const seen = new Set<number>();
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024, signal: opts.signal }) as AsyncIterable<Buffer>) {
    const buf = carry.length ? Buffer.concat([carry, chunk]) : chunk;
    const base = carry.length ? carryStart : read;
    findExecutables(buf, base, sweep, seen);
    if (opts.pdf) for (const id of pdfActionsIn(buf.toString("latin1"))) sweep.pdfActions.add(id);
    read += chunk.length;
    const keep = Math.min(buf.length, EXECUTABLE_PROBE_BYTES);
    carry = Buffer.from(buf.subarray(buf.length - keep));
    carryStart = base + buf.length - keep;

    for (let at = 0; at < chunk.length; ) {
      const take = Math.min(ENTROPY_WINDOW - windowBytes, chunk.length - at);
      window.push(chunk.subarray(at, at + take));
      windowBytes += take;
      at += take;
      if (windowBytes === ENTROPY_WINDOW) {
        if (shannonEntropy(Buffer.concat(window)) >= HIGH_ENTROPY) sweep.highEntropyWindows.push(windowStart);
        windowStart += windowBytes;
        window = [];
        windowBytes = 0;
      }
    }
    opts.onBytes(read);
  }
  if (windowBytes >= 4096 && shannonEntropy(Buffer.concat(window)) >= HIGH_ENTROPY) sweep.highEntropyWindows.push(windowStart);
  return sweep;
}

function findExecutables(buf: Buffer, base: number, sweep: Sweep, seen: Set<number>): void {
  for (const magic of MAGICS) {
    for (let i = buf.indexOf(magic); i !== -1 && sweep.executables.length < MAX_EXECUTABLES; i = buf.indexOf(magic, i + 1)) {
      const offset = base + i;
      if (offset === 0 || seen.has(offset)) continue;
      const kind = executableAt(buf, i);
      if (kind) {
        seen.add(offset);
        sweep.executables.push({ offset, kind });
      }
    }
  }
}
