import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import type { FileFacts } from "../../scan/scanner.ts";
import { EXECUTABLE_PROBE_BYTES, executableAt } from "../validation/executable-header.ts";
import { UPLOAD_MAX_BYTES } from "./virustotal-client.ts";

/**
 * Markers of content that may hold patient data or carry other files: DICOM, ZIP, 7-Zip, RAR,
 * gzip, PDF, HL7 v2 and FHIR. A program that holds any of them (a self-extracting archive of
 * a study, say) is never sent.
 */
const CARRIERS = ["DICM", "PK\x03\x04", "7z\xbc\xaf\x27\x1c", "Rar!\x1a\x07", "\x1f\x8b\x08", "%PDF-", "MSH|", "resourceType"].map((m) => Buffer.from(m, "latin1"));
const OVERLAP = Math.max(...CARRIERS.map((m) => m.length)) - 1;

/**
 * Whether a file's bytes may go to VirusTotal when uploads are turned on: only a native
 * program (PE, ELF, Mach-O) that is none of the allow-list's kinds and carries none of the
 * markers above. Every medical format, image, text, script and archive stays here, as does
 * any format this service cannot name.
 */
export async function mayUpload(facts: FileFacts | undefined, filePath: string): Promise<boolean> {
  if (!facts || facts.kind !== null || facts.size > UPLOAD_MAX_BYTES) return false;
  const kind = executableAt(await head(filePath));
  if (kind !== "pe" && kind !== "elf" && kind !== "mach-o") return false;
  return !(await holdsCarrier(filePath));
}

async function head(filePath: string): Promise<Buffer> {
  const fh = await open(filePath, "r");
  try {
    const buf = Buffer.alloc(EXECUTABLE_PROBE_BYTES);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

async function holdsCarrier(filePath: string): Promise<boolean> {
  let tail = Buffer.alloc(0);
  for await (const chunk of createReadStream(filePath) as AsyncIterable<Buffer>) {
    const window = Buffer.concat([tail, chunk]);
    if (CARRIERS.some((m) => window.includes(m))) return true;
    tail = window.subarray(Math.max(0, window.length - OVERLAP));
  }
  return false;
}
