import path from "node:path";
import { FILE_KINDS, type FileKind } from "../../verdict/file-kind.ts";


export const KIND_MIME: Readonly<Record<FileKind, string>> = {
  dicom: "application/dicom",
  pdf: "application/pdf",
  jpeg: "image/jpeg",
  png: "image/png",
  tiff: "image/tiff",
  hl7v2: "x-application/hl7-v2+er7",
  "fhir-json": "application/fhir+json",
  "fhir-xml": "application/fhir+xml",
  text: "text/plain",
  csv: "text/csv",
  zip: "application/zip",
};

/** Text kinds may legitimately be named as any of the text extensions. */
const TEXTUAL: readonly FileKind[] = ["hl7v2", "fhir-json", "fhir-xml", "text", "csv"];

// Maps, not object literals: a client's name or type must never find an inherited property ("constructor").
const EXTENSION_CLAIMS: ReadonlyMap<string, readonly FileKind[]> = new Map<string, readonly FileKind[]>([
  [".dcm", ["dicom"]],
  [".dicom", ["dicom"]],
  [".dic", ["dicom"]],
  [".pdf", ["pdf"]],
  [".jpg", ["jpeg"]],
  [".jpeg", ["jpeg"]],
  [".png", ["png"]],
  [".tif", ["tiff"]],
  [".tiff", ["tiff"]],
  [".hl7", ["hl7v2"]],
  [".json", ["fhir-json"]],
  [".xml", ["fhir-xml"]],
  [".txt", TEXTUAL],
  [".csv", ["csv", "text"]],
  [".zip", ["zip"]],
]);

export type NameClaim =
  | { readonly kind: "none" }
  | { readonly kind: "known"; readonly extension: string; readonly kinds: readonly FileKind[] }
  | { readonly kind: "foreign"; readonly extension: string };

/**
 * What a client's file name claims about its content. DICOM files are often named by UID
 * ("1.2.840.113619.2.55.3"), so an all-digit extension claims nothing.
 */
export function claimFromName(fileName: string | undefined): NameClaim {
  if (!fileName) return { kind: "none" };
  const extension = path.extname(fileName.replace(/\\/g, "/")).toLowerCase();
  if (extension === "" || /^\.\d+$/.test(extension)) return { kind: "none" };
  const kinds = EXTENSION_CLAIMS.get(extension);
  return kinds ? { kind: "known", extension, kinds } : { kind: "foreign", extension };
}

const MIME_CLAIMS: ReadonlyMap<string, readonly FileKind[]> = new Map<string, readonly FileKind[]>([
  ...FILE_KINDS.map((k) => [KIND_MIME[k], [k]] as const),
  ["application/json", ["fhir-json"]],
  ["application/xml", ["fhir-xml"]],
  ["text/xml", ["fhir-xml"]],
  ["application/hl7-v2", ["hl7v2"]],
  ["x-application/hl7-v2+er7", ["hl7v2"]],
  ["application/x-zip-compressed", ["zip"]],
]);

/** Generic declared types that a browser sends when it does not know: they claim nothing. */
const UNINFORMATIVE_MIME = new Set(["", "application/octet-stream", "binary/octet-stream"]);

export function kindsFromDeclaredType(mime: string | undefined): readonly FileKind[] | "none" | "foreign" {
  const base = (mime ?? "").split(";")[0]!.trim().toLowerCase();
  if (UNINFORMATIVE_MIME.has(base)) return "none";
  return MIME_CLAIMS.get(base) ?? "foreign";
}
