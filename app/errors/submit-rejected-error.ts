export type SubmitRejectedCode = "INVALID_REQUEST" | "FILE_TOO_LARGE" | "EMPTY_FILE" | "DAILY_LIMIT" | "INTEGRITY_MISMATCH" | "DUPLICATE_FILE" | "RESCAN_NOT_ALLOWED";

/** A submission refused before anything was stored or queued. */
export class SubmitRejectedError extends Error {
  override readonly name = "SubmitRejectedError";
  constructor(
    readonly code: SubmitRejectedCode,
    message: string,
    /** For DAILY_LIMIT: seconds until the count starts again. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}
