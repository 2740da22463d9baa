export type ContentUnavailableCode = "NOT_SCANNED" | "NOT_CLEAN" | "FILE_EXPIRED" | "QUARANTINE_INTEGRITY" | "VIRUSTOTAL_PENDING";

/** A file's bytes are served only while its latest result is clean and the bytes are kept. */
export class ContentUnavailableError extends Error {
  override readonly name = "ContentUnavailableError";
  constructor(
    readonly code: ContentUnavailableCode,
    message: string,
  ) {
    super(message);
  }
}
