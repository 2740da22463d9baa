import type { Tier, TierLimits } from "../verdict/tiers.ts";

export type SubmitRejectedCode = "INVALID_REQUEST" | "INVALID_FILE_NAME" | "FILE_TOO_LARGE" | "EMPTY_FILE" | "DAILY_LIMIT" | "INTEGRITY_MISMATCH" | "DUPLICATE_FILE" | "RESCAN_NOT_ALLOWED";

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

  static tooLarge(tier: Tier, limits: TierLimits): SubmitRejectedError {
    return new SubmitRejectedError("FILE_TOO_LARGE", `the ${tier} tier accepts files up to ${limits.maxFileBytes} bytes`);
  }

  static dailyLimit(tier: Tier, limits: TierLimits, retryAfterSeconds: number): SubmitRejectedError {
    return new SubmitRejectedError("DAILY_LIMIT", `the ${tier} tier allows ${limits.filesPerDay} files per UTC day`, retryAfterSeconds);
  }
}
