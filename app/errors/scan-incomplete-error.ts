/**
 * Thrown to Bull when a scan ended in a retryable engine error: Bull retries the job with
 * backoff, and after the last attempt keeps it in the failed list for an operator to re-drive.
 */
export class ScanIncompleteError extends Error {
  override readonly name = "ScanIncompleteError";
  readonly code = "SCAN_INCOMPLETE";
}
