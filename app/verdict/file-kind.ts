/** The content types the allow-list (ALLOWED_FILE_TYPES) can name; validation tells them apart. */
export const FILE_KINDS = [
  "dicom",
  "pdf",
  "jpeg",
  "png",
  "tiff",
  "hl7v2",
  "fhir-json",
  "fhir-xml",
  "text",
  "csv",
  "zip",
] as const;
export type FileKind = (typeof FILE_KINDS)[number];
