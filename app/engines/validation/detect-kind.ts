import { fileTypeFromBuffer } from "file-type";
import type { FileKind } from "../../verdict/file-kind.ts";
import { KIND_MIME } from "./file-kinds.ts";

export interface DetectedType {
  /** The allow-list kind, or null when the content is none of them. */
  readonly kind: FileKind | null;
  /** MIME type as detected from the content. */
  readonly mime: string;
}

const FILE_TYPE_KINDS: ReadonlyMap<string, FileKind> = new Map<string, FileKind>([
  ["dcm", "dicom"],
  ["pdf", "pdf"],
  ["jpg", "jpeg"],
  ["png", "png"],
  ["tif", "tiff"],
  ["zip", "zip"],
]);

export function hasDicomMagic(head: Buffer): boolean {
  return head.length >= 132 && head.toString("latin1", 128, 132) === "DICM";
}

/**
 * Type from content only: magic bytes via file-type, then a text sniff for the formats that
 * have no magic (HL7 v2, FHIR, CSV). DICM at 128 wins over anything at offset 0, so that a
 * preamble polyglot is judged as the DICOM file it pretends to be (the preamble check flags it).
 */
export async function detectKind(head: Buffer): Promise<DetectedType> {
  if (hasDicomMagic(head)) return known("dicom");
  const magic = await fileTypeFromBuffer(head);
  // file-type calls anything with an XML declaration "xml"; whether it is FHIR is for the text sniff to say.
  if (magic && magic.ext !== "xml") {
    const kind = FILE_TYPE_KINDS.get(magic.ext);
    return kind ? known(kind) : { kind: null, mime: magic.mime };
  }
  return sniffText(head);
}

function known(kind: FileKind): DetectedType {
  return { kind, mime: KIND_MIME[kind] };
}

const BINARY = { kind: null, mime: "application/octet-stream" } as const;

function sniffText(head: Buffer): DetectedType {
  const text = decodeUtf8(head);
  if (text === null) return BINARY;
  const body = text.replace(/^\uFEFF/, "").trimStart();
  if (/^(MSH|FHS|BHS)\|/.test(body)) return known("hl7v2");
  if (body.startsWith("{")) {
    return /"resourceType"\s*:/.test(body) ? known("fhir-json") : { kind: null, mime: "application/json" };
  }
  if (body.startsWith("<")) {
    return /xmlns\s*=\s*["']http:\/\/hl7\.org\/fhir["']/.test(body) ? known("fhir-xml") : { kind: null, mime: "application/xml" };
  }
  return looksLikeCsv(body) ? known("csv") : known("text");
}

function decodeUtf8(head: Buffer): string | null {
  if (head.length === 0) return null;
  for (const byte of head) {
    // NUL and C0 controls other than tab, LF, VT (HL7 MLLP), FF, CR mark binary data.
    if (byte < 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0b && byte !== 0x0c && byte !== 0x0d) return null;
  }
  // The head may end inside a multi-byte character: allow up to three bytes to be cut off.
  for (let cut = 0; cut <= Math.min(3, head.length - 1); cut++) {
    const text = tryDecode(head.subarray(0, head.length - cut));
    if (text !== null) return text;
  }
  return null;
}

function tryDecode(bytes: Buffer): string | null {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (err) {
    if (err instanceof TypeError) return null;
    throw err;
  }
}

function looksLikeCsv(text: string): boolean {
  const lines = text.split(/\r?\n/);
  // The last line may be cut off by the end of the head.
  if (!/\n$/.test(text)) lines.pop();
  return consistentColumns(lines.filter((l) => l.length > 0).slice(0, 10));
}

function consistentColumns(lines: string[]): boolean {
  if (lines.length < 2) return false;
  for (const sep of [",", ";", "\t"]) {
    const counts = lines.map((l) => l.split(sep).length - 1);
    if (counts[0]! > 0 && counts.every((c) => c === counts[0])) return true;
  }
  return false;
}
