export type NotFoundCode = "FILE_NOT_FOUND" | "QUARANTINE_NOT_FOUND" | "JOB_NOT_FOUND" | "KEY_NOT_FOUND";

/** The thing does not exist, or does not belong to the caller: the two are told apart nowhere. */
export class NotFoundError extends Error {
  override readonly name = "NotFoundError";
  constructor(
    readonly code: NotFoundCode,
    message: string,
  ) {
    super(message);
  }
}
