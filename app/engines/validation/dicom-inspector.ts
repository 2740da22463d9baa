import { closeSync, createReadStream, createWriteStream, fstatSync, openSync } from "node:fs";
import path from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import zlib from "node:zlib";
import type { ScanLimits } from "../../config.ts";
import type { HeuristicId } from "../../verdict/findings.ts";
import type { ScanTarget, ValueRef } from "../../scan/scanner.ts";
import { walkDataset, type DatasetWalk } from "./dicom-walker.ts";
import { syntaxOf, TS_EXPLICIT_LE } from "./dicom-syntax.ts";
import { EXECUTABLE_PROBE_BYTES, peImageSize, preambleExecutable } from "./executable-header.ts";
import { FileWindow } from "./file-window.ts";
import { inflatePdfStreams } from "./pdf-streams.ts";

export interface DicomIssue {
  readonly id: Extract<HeuristicId, `dicom.${string}` | "pdf.inflate-limit">;
  readonly description: string;
  readonly offset?: number;
  readonly target: string;
}

export interface DicomInspection {
  readonly transferSyntax: string | null;
  readonly issues: DicomIssue[];
  /** The dataset the offsets below refer to: the file, or its inflated copy. */
  readonly dataset: ScanTarget;
  readonly privateValues: readonly ValueRef[];
  /** Derived content for later engines: the inflated dataset, executables cut out of element values. */
  readonly artifacts: ScanTarget[];
}

const MAX_ELEMENTS = 2_000_000;
/** DICOM PS3.5 9.1: a UID is at most 64 characters (padding included). */
const MAX_UID_BYTES = 64;
const MAX_CARVED = 8;
const MAX_CARVE_BYTES = 64 * 1024 * 1024;

/**
 * DICOM Part 10 structure: preamble polyglots (CVE-2019-11687), file meta group, a known
 * transfer syntax, every element length inside its container and the file, executables in
 * element values. Deflated datasets are inflated (capped) and walked, and the inflated copy is
 * handed to every later engine, since clamd does not inflate them. What it misses: semantic
 * checks of tag values (the YARA rules and analysis look at content).
 */
export async function inspectDicom(file: ScanTarget, win: FileWindow, limits: ScanLimits, workDir: () => Promise<string>, signal: AbortSignal): Promise<DicomInspection> {
  const { size } = win;
  const issues: DicomIssue[] = [];
  const artifacts: ScanTarget[] = [];
  const head = win.read(0, 132);
  const preamble = preambleExecutable(head);
  if (preamble) {
    issues.push({ id: "dicom.preamble-executable", description: `${preamble} executable header in the 128-byte preamble of a DICOM file`, offset: 0, target: file.label });
  }
  const meta = readMeta(win);
  if ("problem" in meta) {
    issues.push({ id: "dicom.bad-meta", description: meta.problem, offset: meta.offset, target: file.label });
    return { transferSyntax: null, issues, dataset: file, privateValues: [], artifacts };
  }
  const syntax = syntaxOf(meta.transferSyntax);
  if (!syntax) {
    issues.push({ id: "dicom.unknown-transfer-syntax", description: `transfer syntax ${JSON.stringify(meta.transferSyntax)} is not a known one`, target: file.label });
    return { transferSyntax: meta.transferSyntax, issues, dataset: file, privateValues: [], artifacts };
  }

  let dataset = file;
  let walk: DatasetWalk;
  // A walk of a dataset cut off at the inflate cap is bound to end mid-element; that issue is raised already.
  let walkProblemsMeaningful = true;
  if (syntax.deflated) {
    const inflated: ScanTarget = { label: "inflated-dataset", path: path.join(await workDir(), "inflated-dataset.bin"), role: "dataset" };
    const failure = await inflateDataset(file.path, meta.datasetStart, inflated.path, limits.dicomMaxInflatedBytes);
    if (failure) {
      issues.push({ ...failure, target: file.label });
      walkProblemsMeaningful = false;
      // A dataset cut at the cap is not scanned further: the verdict is not clean already, and a bomb must not cost more work.
      if (failure.id === "dicom.inflate-limit") return { transferSyntax: meta.transferSyntax, issues, dataset: file, privateValues: [], artifacts };
    }
    artifacts.push(inflated);
    const inflatedFd = openSync(inflated.path, "r");
    try {
      const { size: inflatedSize } = fstatSync(inflatedFd);
      const inflatedWin = new FileWindow(inflatedFd, inflatedSize);
      walk = walkDataset(inflatedWin, 0, inflatedSize, syntaxOf(TS_EXPLICIT_LE)!, { maxDepth: limits.dicomMaxDepth, maxElements: MAX_ELEMENTS });
      artifacts.push(...(await carveExecutables(inflatedWin, walk, workDir)));
      artifacts.push(...(await carveDocuments(inflatedWin, walk, workDir, limits.dicomMaxInflatedBytes, signal, issues)));
    } finally {
      closeSync(inflatedFd);
    }
    dataset = inflated;
  } else {
    walk = walkDataset(win, meta.datasetStart, size, syntax, { maxDepth: limits.dicomMaxDepth, maxElements: MAX_ELEMENTS });
    artifacts.push(...(await carveExecutables(win, walk, workDir)));
    artifacts.push(...(await carveDocuments(win, walk, workDir, limits.dicomMaxInflatedBytes, signal, issues)));
  }
  if (walkProblemsMeaningful) for (const p of walk.problems) issues.push({ id: p.id, description: p.description, offset: p.offset, target: dataset.label });
  for (const x of walk.executables) {
    issues.push({ id: "dicom.embedded-executable", description: `${x.kind} executable in element ${x.tag}`, offset: x.offset, target: dataset.label });
  }
  return { transferSyntax: meta.transferSyntax, issues, dataset, privateValues: walk.privateValues, artifacts };
}

type Meta = { transferSyntax: string; datasetStart: number } | { problem: string; offset: number };

/** File meta information: group 0002, always explicit VR little endian. */
function readMeta(win: FileWindow): Meta {
  let pos = 132;
  let transferSyntax: string | null = null;
  for (;;) {
    const h = win.read(pos, 12);
    if (h.length < 8 || h.readUInt16LE(0) !== 0x0002) break;
    const vr = h.toString("latin1", 4, 6);
    const long = ["OB", "OW", "UN", "SQ", "UT", "UC", "UR"].includes(vr);
    if (long && h.length < 12) return { problem: "file meta group is truncated", offset: pos };
    const length = long ? h.readUInt32LE(8) : h.readUInt16LE(6);
    const valueStart = pos + (long ? 12 : 8);
    if (valueStart + length > win.size) return { problem: "a file meta element runs past the end of the file", offset: pos };
    if (h.readUInt16LE(2) === 0x0010) {
      if (length > MAX_UID_BYTES) return { problem: `the transfer syntax (0002,0010) is ${length} bytes long; a UID has at most ${MAX_UID_BYTES}`, offset: pos };
      transferSyntax = withoutPadding(win.read(valueStart, length));
    }
    pos = valueStart + length;
  }
  if (pos === 132) return { problem: "no file meta group after DICM", offset: 132 };
  if (!transferSyntax) return { problem: "file meta group has no transfer syntax (0002,0010)", offset: 132 };
  return { transferSyntax, datasetStart: pos };
}

/** A UID's value: trailing NUL and space padding dropped, in one pass from the end (a regex anchored at `$` retries from every start: quadratic). */
function withoutPadding(value: Buffer): string {
  let end = value.length;
  while (end > 0 && (value[end - 1] === 0 || value[end - 1] === 0x20)) end--;
  return value.toString("latin1", 0, end);
}

async function inflateDataset(
  source: string,
  start: number,
  target: string,
  maxBytes: number,
): Promise<{ id: "dicom.inflate-limit" | "dicom.inflate-error"; description: string } | null> {
  let written = 0;
  let capped = false;
  const cap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      const room = maxBytes - written;
      if (chunk.length > room) {
        capped = true;
        written = maxBytes;
        done(new Error("inflate cap"), chunk.subarray(0, room));
        return;
      }
      written += chunk.length;
      done(null, chunk);
    },
  });
  try {
    await pipeline(createReadStream(source, { start }), zlib.createInflateRaw(), cap, createWriteStream(target, { mode: 0o600 }));
    return null;
  } catch (err) {
    if (capped) return { id: "dicom.inflate-limit", description: `the deflated dataset expands past ${maxBytes} bytes` };
    return { id: "dicom.inflate-error", description: `the deflated dataset does not inflate: ${(err as Error).message}` };
  }
}

/** Cuts executables out of element values so that clamd sees each one as a file of its own. */
async function carveExecutables(win: FileWindow, walk: DatasetWalk, workDir: () => Promise<string>): Promise<ScanTarget[]> {
  const out: ScanTarget[] = [];
  for (const x of walk.executables.slice(0, MAX_CARVED)) {
    let length = Math.min(x.length, MAX_CARVE_BYTES);
    if (x.kind === "pe") {
      const image = peImageSize(win.read(x.offset, Math.min(x.length, EXECUTABLE_PROBE_BYTES)), 0);
      if (image !== null) length = Math.min(length, image);
    }
    const target: ScanTarget = { label: `carved-${x.kind}@${x.offset}`, path: path.join(await workDir(), `carved-${out.length}.bin`), role: "executable" };
    await pipeline(winStream(win, x.offset, length), createWriteStream(target.path, { mode: 0o600 }));
    out.push(target);
  }
  return out;
}

/**
 * Encapsulated documents as files of their own, so every engine reads them as it reads an
 * upload; an encapsulated PDF also has its compressed streams inflated (capped), as a PDF
 * upload has.
 */
async function carveDocuments(win: FileWindow, walk: DatasetWalk, workDir: () => Promise<string>, maxInflated: number, signal: AbortSignal, issues: DicomIssue[]): Promise<ScanTarget[]> {
  const out: ScanTarget[] = [];
  for (const [i, doc] of walk.documents.entries()) {
    const pdf = win.read(doc.offset, 5).toString("latin1") === "%PDF-";
    const target: ScanTarget = { label: `encapsulated-document-${i}`, path: path.join(await workDir(), `document-${i}.bin`), role: pdf ? "pdf" : "dataset" };
    await pipeline(winStream(win, doc.offset, doc.length), createWriteStream(target.path, { mode: 0o600 }));
    out.push(target);
    if (!pdf) continue;
    const streams: ScanTarget = { label: `encapsulated-document-${i}-streams`, path: path.join(await workDir(), `document-${i}-streams.bin`), role: "pdf" };
    const { inflated, issue } = await inflatePdfStreams(target.path, doc.length, streams.path, maxInflated, signal);
    if (inflated) out.push(streams);
    if (issue) issues.push({ ...issue, target: target.label });
  }
  return out;
}

function* winStream(win: FileWindow, offset: number, length: number): Generator<Buffer> {
  const CHUNK = 64 * 1024;
  for (let done = 0; done < length; ) {
    const part = win.read(offset + done, Math.min(CHUNK, length - done));
    if (part.length === 0) return;
    // FileWindow replaces its buffer on a move rather than overwriting it, so the slice stays valid.
    yield part;
    done += part.length;
  }
}
