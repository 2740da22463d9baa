import { createWriteStream } from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { Transform, type Readable } from "node:stream";
import yauzl, { type Entry, type ZipFile } from "yauzl";
import type { ScanLimits } from "../../config.ts";
import type { FileKind } from "../../verdict/file-kind.ts";
import type { HeuristicId } from "../../verdict/findings.ts";
import { detectKind, hasDicomMagic } from "./detect-kind.ts";
import { EXECUTABLE_PROBE_BYTES, executableAt, preambleExecutable } from "./executable-header.ts";

export interface ArchiveProblem {
  readonly id: Extract<HeuristicId, `archive.${string}`>;
  readonly description: string;
}

/** Entries whose ratio is checked: tiny files of padding compress extremely well and mean nothing. */
const RATIO_MIN_BYTES = 1024 * 1024;
const MAX_PROBLEMS_PER_ID = 10;
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;

interface Walk {
  readonly limits: ScanLimits;
  readonly allowed: readonly FileKind[];
  readonly workDir: () => Promise<string>;
  readonly problems: ArchiveProblem[];
  readonly counts: Map<string, number>;
  entries: number;
  totalBytes: number;
  nestedSeq: number;
  signal: AbortSignal;
}

/**
 * Checks a ZIP before any engine relies on it: entry count, sizes, ratio, nesting, names that
 * escape the extraction folder, symlinks, encryption, and each member's head as validation
 * checks an upload's: a program or script, a type off the allow-list, a DICOM file with an
 * executable preamble. An archive must not carry what could not be uploaded alone. clamd
 * truncates members over MaxFileSize and answers OK, so these limits are the service's own.
 * What it misses: the content past each member's head (clamd and YARA see that).
 */
export async function guardZip(file: string, limits: ScanLimits, allowed: readonly FileKind[], workDir: () => Promise<string>, signal: AbortSignal): Promise<ArchiveProblem[]> {
  const walk: Walk = { limits, allowed, workDir, problems: [], counts: new Map(), entries: 0, totalBytes: 0, nestedSeq: 0, signal };
  await walkZip(walk, file, 0, "");
  return walk.problems;
}

function report(walk: Walk, id: ArchiveProblem["id"], description: string): void {
  const n = (walk.counts.get(id) ?? 0) + 1;
  walk.counts.set(id, n);
  if (n <= MAX_PROBLEMS_PER_ID) walk.problems.push({ id, description });
}

function openZip(file: string): Promise<ZipFile> {
  return new Promise((resolve, reject) =>
    yauzl.open(file, { lazyEntries: true, decodeStrings: false, validateEntrySizes: true, strictFileNames: false }, (err, zip) =>
      err ? reject(err) : resolve(zip),
    ),
  );
}

async function walkZip(walk: Walk, file: string, depth: number, prefix: string): Promise<void> {
  let zip: ZipFile;
  try {
    zip = await openZip(file);
  } catch (err) {
    report(walk, "archive.unreadable", `${prefix || "archive"}: ${(err as Error).message}`);
    return;
  }
  try {
    await new Promise<void>((resolve, reject) => {
      zip.on("error", reject);
      zip.on("end", resolve);
      zip.on("entry", (entry: Entry) => {
        inspectEntry(walk, zip, entry, depth, prefix).then(
          (goOn) => (goOn ? zip.readEntry() : resolve()),
          reject,
        );
      });
      zip.readEntry();
    });
  } catch (err) {
    report(walk, "archive.unreadable", `${prefix || "archive"}: ${(err as Error).message}`);
  } finally {
    zip.close();
  }
}

/** Returns false when the walk must stop (entry limit reached or scan aborted). */
async function inspectEntry(walk: Walk, zip: ZipFile, entry: Entry, depth: number, prefix: string): Promise<boolean> {
  if (walk.signal.aborted) return false;
  const { limits } = walk;
  if (++walk.entries > limits.archiveMaxEntries) {
    report(walk, "archive.too-many-entries", `more than ${limits.archiveMaxEntries} entries`);
    return false;
  }
  const rawName = (entry.fileName as unknown as Buffer).toString("utf8");
  const name = `${prefix}${rawName}`;
  const unsafe = unsafeNameReason(rawName);
  if (unsafe) report(walk, "archive.unsafe-path", `entry ${JSON.stringify(name)}: ${unsafe}`);
  if (((entry.externalFileAttributes >>> 16) & S_IFMT) === S_IFLNK) report(walk, "archive.symlink", `entry ${JSON.stringify(name)} is a symbolic link`);
  const encrypted = (entry.generalPurposeBitFlag & 0x1) !== 0;
  if (encrypted) report(walk, "archive.encrypted", `entry ${JSON.stringify(name)} is encrypted`);

  const size = entry.uncompressedSize;
  walk.totalBytes += size;
  let withinLimits = true;
  if (size > limits.archiveMaxEntryBytes) {
    withinLimits = false;
    report(walk, "archive.entry-too-large", `entry ${JSON.stringify(name)} expands to ${size} bytes (limit ${limits.archiveMaxEntryBytes})`);
  }
  if (walk.totalBytes > limits.archiveMaxTotalBytes) {
    withinLimits = false;
    report(walk, "archive.total-too-large", `entries expand to more than ${limits.archiveMaxTotalBytes} bytes`);
  }
  if (size >= RATIO_MIN_BYTES && entry.compressedSize > 0 && size / entry.compressedSize > limits.archiveMaxRatio) {
    withinLimits = false;
    report(walk, "archive.ratio-exceeded", `entry ${JSON.stringify(name)} compresses ${Math.round(size / entry.compressedSize)}:1 (limit ${limits.archiveMaxRatio}:1)`);
  }
  if (encrypted || !withinLimits || rawName.endsWith("/") || size === 0) return true;

  const stream = await openEntry(zip, entry);
  const head = await readHead(stream, MEMBER_HEAD_BYTES);
  await checkMemberHead(walk, name, head);
  if (head.length >= 4 && head.readUInt32BE(0) === 0x504b0304) {
    if (depth + 1 > limits.archiveMaxDepth) {
      report(walk, "archive.too-deep", `member ${JSON.stringify(name)} nests archives deeper than ${limits.archiveMaxDepth}`);
      stream.destroy();
      return true;
    }
    const nested = path.join(await walk.workDir(), `nested-${++walk.nestedSeq}.zip`);
    try {
      await extractTo(head, stream, nested, limits.archiveMaxEntryBytes);
    } catch (err) {
      report(walk, "archive.unreadable", `member ${JSON.stringify(name)}: ${(err as Error).message}`);
      return true;
    }
    await walkZip(walk, nested, depth + 1, `${name}!/`);
  } else {
    stream.destroy();
  }
  return true;
}

/** Enough for file-type's magic numbers and a PE header's e_lfanew. */
const MEMBER_HEAD_BYTES = EXECUTABLE_PROBE_BYTES;

async function checkMemberHead(walk: Walk, name: string, head: Buffer): Promise<void> {
  if (hasDicomMagic(head)) {
    if (preambleExecutable(head)) report(walk, "archive.member-preamble-executable", `member ${JSON.stringify(name)} is a DICOM file with an executable preamble`);
    if (!walk.allowed.includes("dicom")) report(walk, "archive.member-type-not-allowed", `member ${JSON.stringify(name)} is DICOM, which is not on the allow-list`);
    return;
  }
  const program = executableAt(head);
  if (program) {
    report(walk, "archive.member-executable", `member ${JSON.stringify(name)} is a ${program === "script" ? "script" : `${program.toUpperCase()} program`}`);
    return;
  }
  const detected = await detectKind(head);
  if (detected.kind === null || !walk.allowed.includes(detected.kind)) {
    report(walk, "archive.member-type-not-allowed", `member ${JSON.stringify(name)} is ${detected.mime}, which is not on the allow-list`);
  }
}

export function unsafeNameReason(name: string): string | null {
  if (name.includes("\0")) return "name contains NUL";
  if (name.includes("\\")) return "name contains a backslash";
  if (name.startsWith("/") || /^[A-Za-z]:/.test(name)) return "absolute path";
  if (name.split("/").includes("..")) return "path traversal (..)";
  return null;
}

function openEntry(zip: ZipFile, entry: Entry): Promise<Readable> {
  return new Promise((resolve, reject) => zip.openReadStream(entry, (err, stream) => (err ? reject(err) : resolve(stream))));
}

/** Reads up to n bytes and leaves the stream paused with the rest unread. */
function readHead(stream: Readable, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      got += chunk.length;
      if (got >= n) finish();
    };
    const finish = () => {
      stream.off("data", onData).off("end", finish).off("error", reject);
      stream.pause();
      resolve(Buffer.concat(chunks));
    };
    stream.on("data", onData).once("end", finish).once("error", reject);
  });
}

async function extractTo(head: Buffer, rest: Readable, target: string, maxBytes: number): Promise<void> {
  let written = 0;
  const cap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      written += chunk.length;
      done(written > maxBytes ? new Error(`expands past ${maxBytes} bytes`) : null, chunk);
    },
  });
  cap.write(head);
  await pipeline(rest, cap, createWriteStream(target, { mode: 0o600 }));
}
