/** More writes are waiting for the store than it will queue: the caller should try again shortly. */
export class StoreBusyError extends Error {
  override readonly name = "StoreBusyError";
  readonly code = "STORE_BUSY";
  constructor(readonly waiting: number) {
    super(`the store has ${waiting} writes waiting; try again shortly`);
  }
}
