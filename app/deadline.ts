/** `work`, or a rejection after `ms`: for dependencies that queue a request instead of failing while they are away. */
export async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `run` with a signal that aborts after `ms`, its timer cleared as `run` settles.
 * `AbortSignal.timeout` keeps its timer until it fires, then builds a TimeoutError no one reads:
 * per clamd command of a busy gate, that work and garbage outlast each scan by seconds.
 */
export async function withTimeoutSignal<T>(ms: number, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  try {
    return await run(controller.signal);
  } finally {
    clearTimeout(timer);
  }
}
