/** VirusTotal v3's error codes that change what we do, plus our own for transport failures. */
export type VirusTotalErrorCode = "WrongCredentialsError" | "QuotaExceededError" | "TransientError" | "UnexpectedAnswer" | "Unreachable" | "Timeout";

/** VirusTotal did not answer a lookup; it never decides a verdict on its own, so this only marks it unavailable. */
export class VirusTotalError extends Error {
  override readonly name = "VirusTotalError";
  constructor(
    readonly code: VirusTotalErrorCode,
    message: string,
    readonly httpStatus?: number,
  ) {
    super(message);
  }
}
