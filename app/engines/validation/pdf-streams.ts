import { createReadStream, createWriteStream, type WriteStream } from "node:fs";
import { open } from "node:fs/promises";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import zlib from "node:zlib";

/** Streams looked at per PDF; a real document has far fewer worth inflating. */
const MAX_STREAMS = 20_000;
const CHUNK = 1024 * 1024;
const STREAM = Buffer.from("stream");
/** "end" before "stream", and the end of line after it: read around each chunk. */
const BEFORE = 3;
const AFTER = 8;
/** So that rules anchored on a PDF header (YARA's `$pdf in (0..1024)`) read the inflated streams as a PDF. */
const HEADER = Buffer.from("%PDF-1.7 inflated streams\n");

export type PdfStreamIssue = { readonly id: "pdf.inflate-limit"; readonly description: string };

/**
 * Inflates every zlib (FlateDecode) stream of a PDF, object streams included, into one file
 * for the engines after validation: clamd, YARA and analysis read raw bytes, and a PDF can
 * keep its `/OpenAction` and `/JavaScript` in a compressed `/ObjStm`. Streams that do not
 * inflate (images, other filters) are skipped. The inflated total is capped at `maxBytes`
 * (an issue: the PDF could not be fully scanned). Returns false when nothing inflated.
 */
export async function inflatePdfStreams(source: string, size: number, target: string, maxBytes: number, signal: AbortSignal): Promise<{ inflated: boolean; issue: PdfStreamIssue | null }> {
  const spans = await streamSpans(source, size, signal);
  const out = createWriteStream(target, { mode: 0o600 });
  let written = 0;
  let inflatedAny = false;
  let issue: PdfStreamIssue | null = null;
  try {
    await write(out, HEADER);
    for (const [start, end] of spans) {
      signal.throwIfAborted();
      if (end <= start) continue;
      const room = maxBytes - written;
      const result = await inflateSpan(source, start, end, out, room, signal);
      written += result.bytes;
      if (result.bytes > 0) inflatedAny = true;
      if (result.capped) {
        issue = { id: "pdf.inflate-limit", description: `the PDF's compressed streams expand past ${maxBytes} bytes` };
        break;
      }
    }
  } finally {
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
  return { inflated: inflatedAny, issue };
}

/** Where each stream's data starts and where its `endstream` is, in file order. */
async function streamSpans(source: string, size: number, signal: AbortSignal): Promise<[number, number][]> {
  const starts: number[] = [];
  const ends: number[] = [];
  const handle = await open(source, "r");
  try {
    const buf = Buffer.alloc(BEFORE + CHUNK + AFTER);
    // Both lists stop at MAX_STREAMS: a file of nothing but "endstream" must not fill the heap.
    for (let position = 0; position < size && starts.length < MAX_STREAMS; position += CHUNK) {
      signal.throwIfAborted();
      const base = Math.max(0, position - BEFORE);
      const { bytesRead } = await handle.read(buf, 0, Math.min(buf.length, size - base), base);
      const view = buf.subarray(0, bytesRead);
      const first = position - base;
      for (let i = view.indexOf(STREAM, first); i !== -1 && i < first + CHUNK; i = view.indexOf(STREAM, i + 1)) {
        const at = base + i;
        if (i >= BEFORE && view.toString("latin1", i - BEFORE, i) === "end") {
          if (ends.length < MAX_STREAMS) ends.push(at - BEFORE);
        } else if (view[i + 6] === 0x0a) starts.push(at + 7);
        else if (view[i + 6] === 0x0d) starts.push(at + (view[i + 7] === 0x0a ? 8 : 7));
      }
    }
  } finally {
    await handle.close();
  }
  const spans: [number, number][] = [];
  let e = 0;
  for (const start of starts.slice(0, MAX_STREAMS)) {
    while (e < ends.length && ends[e]! < start) e++;
    spans.push([start, e < ends.length ? ends[e]! : size]);
  }
  return spans;
}

async function inflateSpan(source: string, start: number, end: number, out: WriteStream, room: number, signal: AbortSignal): Promise<{ bytes: number; capped: boolean }> {
  let bytes = 0;
  let capped = false;
  // Straight into `out`, with its backpressure: a large stream never sits in memory.
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      const part = bytes + chunk.length > room ? chunk.subarray(0, room - bytes) : chunk;
      capped = part.length < chunk.length;
      bytes += part.length;
      const next = () => done(capped ? new Error("inflate cap") : null);
      if (out.write(part)) next();
      else out.once("drain", next);
    },
  });
  // Z_SYNC_FLUSH: a stream cut short or followed by junk still gives what inflated.
  await pipeline(createReadStream(source, { start, end: end - 1 }), zlib.createInflate({ finishFlush: zlib.constants.Z_SYNC_FLUSH }), sink, { signal }).catch(() => undefined);
  signal.throwIfAborted();
  if (bytes > 0) await write(out, Buffer.from("\nendstream\n"));
  return { bytes, capped };
}

function write(out: WriteStream, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => (out.write(data, (err) => (err ? reject(err) : resolve()))));
}
