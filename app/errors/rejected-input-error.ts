export type RejectedInputCode = "EMPTY_FILE" | "INTEGRITY_MISMATCH" | "UNREADABLE_FILE";

/** The input itself is unusable; scanning it again cannot help. */
export class RejectedInputError extends Error {
  override readonly name = "RejectedInputError";
  readonly retryable = false;
  constructor(
    readonly code: RejectedInputCode,
    message: string,
  ) {
    super(message);
  }
}
