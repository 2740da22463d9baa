/** Redis (the queue, daily counts, workers' reports) did not answer in time: nothing was accepted. */
export class QueueUnavailableError extends Error {
  override readonly name = "QueueUnavailableError";
  readonly code = "QUEUE_UNAVAILABLE";
  constructor(cause: unknown) {
    super("the queue cannot be reached; try again shortly", { cause });
  }
}
