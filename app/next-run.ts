/**
 * One task shared by concurrent callers, each answered by a run that started after it asked:
 * a call made while a run is under way waits for the next one, which starts when that one ends
 * and serves every caller that arrived meanwhile (as a group commit shares one log flush).
 */
export class NextRun {
  private running: Promise<void> | null = null;
  private next: Promise<void> | null = null;

  constructor(private readonly task: () => Promise<void>) {}

  run(): Promise<void> {
    if (!this.running) return this.start();
    return (this.next ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.next = null;
        return this.start();
      }));
  }

  private start(): Promise<void> {
    const run = this.task().finally(() => {
      if (this.running === run) this.running = null;
    });
    this.running = run;
    return run;
  }
}
