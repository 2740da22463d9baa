type Lane = object;

/**
 * Admission to the engine threads that keeps short tasks on a few of them. Each thread is a V8
 * isolate that compiles the hot code on its own, so small scans spread over every thread pay
 * that warm-up once per thread. A task starts at once while fewer than `lanes` tasks are young
 * (started under `heldAfterMs` ago); otherwise it waits until one of them ends or ages. A task
 * past that age counts as held (a big or hostile file) and no longer holds the others back:
 * they go on to the next idle thread. So a wait lasts at most `heldAfterMs` per round of tasks
 * admitted ahead of it.
 */
export class WarmLanes {
  /** When each running task started. */
  private readonly running = new Map<Lane, number>();
  private readonly waiting: ((lane: Lane) => void)[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly lanes: number,
    private readonly heldAfterMs: number,
  ) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    const lane =
      this.waiting.length === 0 && this.youngCount() < this.lanes
        ? this.take()
        : await new Promise<Lane>((resolve) => {
            this.waiting.push(resolve);
            this.schedule();
          });
    try {
      return await task();
    } finally {
      this.running.delete(lane);
      this.admit();
    }
  }

  private take(): Lane {
    const lane = {};
    this.running.set(lane, performance.now());
    return lane;
  }

  private youngCount(now = performance.now()): number {
    let young = 0;
    for (const started of this.running.values()) if (now - started < this.heldAfterMs) young++;
    return young;
  }

  private admit(): void {
    while (this.waiting.length > 0 && this.youngCount() < this.lanes) this.waiting.shift()!(this.take());
    this.schedule();
  }

  /** Admits the waiters again when the oldest young task comes of age. */
  private schedule(): void {
    if (this.timer || this.waiting.length === 0) return;
    const now = performance.now();
    let oldest = now;
    for (const started of this.running.values()) if (now - started < this.heldAfterMs) oldest = Math.min(oldest, started);
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.admit();
      },
      Math.max(1, oldest + this.heldAfterMs - now),
    );
  }
}
