import { createReadStream } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import type { FileFacts } from "../../scan/scanner.ts";
import { EXECUTABLE_PROBE_BYTES, executableAt } from "../validation/executable-header.ts";
import { programExtent } from "./program-extent.ts";
import { UPLOAD_MAX_BYTES } from "./virustotal-client.ts";

const TEXT_MARKERS = ["DICM", "MSH|", "resourceType", "hl7.org/fhir", "%PDF-"];
/**
 * Markers of content that may hold patient data or carry other files: DICOM, HL7 v2, FHIR (JSON
 * and XML) and PDF, also as UTF-16; ZIP, 7-Zip, RAR, gzip, xz, bzip2, zstd, CAB, NSIS and Inno
 * Setup payloads. A second line behind the allow-list of `mayUpload`.
 */
const CARRIERS = [
  ...TEXT_MARKERS.flatMap((m) => [Buffer.from(m, "latin1"), Buffer.from(m, "utf16le"), Buffer.from(m, "utf16le").swap16()]),
  ...["PK\x03\x04", "7z\xbc\xaf\x27\x1c", "Rar!\x1a\x07", "\x1f\x8b\x08", "\xfd7zXZ\x00", "1AY&SY", "\x28\xb5\x2f\xfd", "MSCF\0\0\0\0", "NullsoftInst", "Inno Setup"].map((m) => Buffer.from(m, "latin1")),
];
const OVERLAP = Math.max(...CARRIERS.map((m) => m.length)) - 1;
/** Zero padding a linker or signer may leave after a program's last section. */
const PADDING_MAX_BYTES = 4096;

/**
 * Whether a file's bytes may go to VirusTotal when uploads are turned on. An allow-list: only a
 * PE or ELF program that is none of the allow-list's kinds, whose every byte its headers account
 * for (no overlay, where installers and self-extracting archives keep their payload; zero padding
 * and a PE certificate table excepted), and that holds none of the markers above. Every medical
 * format, image, text, script and archive stays here, as does Mach-O, whose fat form this
 * service does not walk, and any format this service cannot name.
 */
export async function mayUpload(facts: FileFacts | undefined, filePath: string, signal: AbortSignal): Promise<boolean> {
  if (!facts || facts.kind !== null || facts.size > UPLOAD_MAX_BYTES) return false;
  const fh = await open(filePath, "r");
  try {
    const kind = executableAt(await head(fh));
    if (kind !== "pe" && kind !== "elf") return false;
    const extent = await programExtent(fh, kind, facts.size);
    if (extent === null || !(await onlyPadding(fh, extent, facts.size))) return false;
  } finally {
    await fh.close();
  }
  return !(await holdsCarrier(filePath, signal));
}

async function onlyPadding(fh: FileHandle, from: number, size: number): Promise<boolean> {
  if (size <= from) return true;
  if (size - from > PADDING_MAX_BYTES) return false;
  const tail = Buffer.alloc(size - from);
  await fh.read(tail, 0, tail.length, from);
  return tail.every((b) => b === 0);
}

async function head(fh: FileHandle): Promise<Buffer> {
  const buf = Buffer.alloc(EXECUTABLE_PROBE_BYTES);
  const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
  return buf.subarray(0, bytesRead);
}

/** Runs on the worker's event loop, so the engine's deadline stops it between chunks. */
async function holdsCarrier(filePath: string, signal: AbortSignal): Promise<boolean> {
  let tail = Buffer.alloc(0);
  for await (const chunk of createReadStream(filePath, { signal }) as AsyncIterable<Buffer>) {
    const window = Buffer.concat([tail, chunk]);
    if (CARRIERS.some((m) => window.includes(m))) return true;
    tail = window.subarray(Math.max(0, window.length - OVERLAP));
  }
  return false;
}
