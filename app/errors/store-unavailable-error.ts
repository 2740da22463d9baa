/** The deployment's database could not be reached (PostgreSQL down or restarting): nothing was written. */
export class StoreUnavailableError extends Error {
  override readonly name = "StoreUnavailableError";
  readonly code = "STORE_UNAVAILABLE";
  constructor(cause: unknown) {
    super("the database cannot be reached; try again shortly", { cause });
  }
}
