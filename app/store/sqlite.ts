import sqlite3 from "sqlite3";

export type SqlParams = readonly (string | number | null)[];

/** What a transaction body may do: the same statements, inside the transaction. */
export interface SqlExecutor {
  run(sql: string, params?: SqlParams): Promise<{ changes: number }>;
  get<T>(sql: string, params?: SqlParams): Promise<T | undefined>;
  all<T>(sql: string, params?: SqlParams): Promise<T[]>;
}

/** A transaction's executor; steps registered with beforeCommit run last, still under the write lock. */
export interface Transaction extends SqlExecutor {
  beforeCommit(step: () => Promise<void>): void;
}

interface PendingTransaction {
  readonly body: (tx: Transaction) => Promise<unknown>;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/**
 * One sqlite3 connection with promises. Writes are serialised through one chain, because a
 * connection shares its transaction with every caller: without the chain, a write of one
 * request would land inside (and roll back with) another's transaction. Reads run freely.
 */
export class SqliteDatabase implements SqlExecutor {
  private chain: Promise<unknown> = Promise.resolve();
  /** Transactions waiting for the next group commit. */
  private waiting: PendingTransaction[] = [];

  private constructor(private readonly db: sqlite3.Database) {}

  static async open(file: string): Promise<SqliteDatabase> {
    const db = await new Promise<sqlite3.Database>((resolve, reject) => {
      const handle = new sqlite3.Database(file, (err) => (err ? reject(err) : resolve(handle)));
    });
    // SQLite's own busy wait sleeps inside a libuv pool thread: a few of them waiting on a lock
    // held by this process starve the pool that the holder needs to commit. So its wait is
    // short and the long wait for another writer happens here, in timers (see retryBusy). With
    // intake and worker in two processes the lock changes hands on every upload, so both waits
    // are fine-grained: 50 ms and 5-25 ms timers cost 16 % of the small-file throughput.
    db.configure("busyTimeout", 10);
    const sql = new SqliteDatabase(db);
    // WAL lets readers run beside the writer; FULL makes a committed verdict survive power loss.
    await sql.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;");
    return sql;
  }

  exec(sql: string): Promise<void> {
    return new Promise((resolve, reject) => this.db.exec(sql, (err) => (err ? reject(err) : resolve())));
  }

  get<T>(sql: string, params: SqlParams = []): Promise<T | undefined> {
    return new Promise((resolve, reject) => this.db.get<T>(sql, params, (err, row) => (err ? reject(err) : resolve(row))));
  }

  all<T>(sql: string, params: SqlParams = []): Promise<T[]> {
    return new Promise((resolve, reject) => this.db.all<T>(sql, params, (err, rows) => (err ? reject(err) : resolve(rows))));
  }

  run(sql: string, params: SqlParams = []): Promise<{ changes: number }> {
    return this.serialised(() => retryBusy(() => this.rawRun(sql, params)));
  }

  /**
   * Group commit: transactions that arrive while another holds the chain run together in the
   * next one (BEGIN IMMEDIATE takes the write lock up front, so two processes cannot deadlock
   * upgrading). Each body runs in its own savepoint, so one that fails is rolled back alone;
   * the others' beforeCommit steps run side by side (the audit log coalesces their lines into
   * one write and one fdatasync), then one COMMIT makes them all durable, and only then does
   * any of them resolve.
   */
  transaction<T>(body: (tx: Transaction) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({ body, resolve, reject } as PendingTransaction);
      if (this.waiting.length === 1) void this.serialised(() => this.commitGroup());
    });
  }

  private async commitGroup(): Promise<void> {
    const group = this.waiting.splice(0);
    const done: { pending: PendingTransaction; value: unknown }[] = [];
    let began = false;
    try {
      await retryBusy(() => this.rawRun("BEGIN IMMEDIATE"));
      began = true;
      const steps: (() => Promise<void>)[] = [];
      for (const pending of group) {
        const own: (() => Promise<void>)[] = [];
        const tx: Transaction = {
          run: (s, p = []) => this.rawRun(s, p),
          get: (s, p) => this.get(s, p),
          all: (s, p) => this.all(s, p),
          beforeCommit: (step) => own.push(step),
        };
        await this.rawRun("SAVEPOINT grouped");
        try {
          const value = await pending.body(tx);
          await this.rawRun("RELEASE grouped");
          steps.push(...own);
          done.push({ pending, value });
        } catch (err) {
          await this.rawRun("ROLLBACK TO grouped");
          await this.rawRun("RELEASE grouped");
          pending.reject(err);
        }
      }
      await Promise.all(steps.map((step) => step()));
      await this.rawRun("COMMIT");
    } catch (err) {
      if (began) await this.rawRun("ROLLBACK").catch(() => undefined);
      // Whatever was not settled yet fails with the group (rejecting a settled promise is a no-op).
      for (const pending of group) pending.reject(err);
      return;
    }
    for (const { pending, value } of done) pending.resolve(value);
  }

  close(): Promise<void> {
    return this.serialised(() => new Promise<void>((resolve, reject) => this.db.close((err) => (err ? reject(err) : resolve()))));
  }

  private rawRun(sql: string, params: SqlParams = []): Promise<{ changes: number }> {
    return new Promise((resolve, reject) =>
      this.db.run(sql, params, function (err) {
        if (err) reject(err);
        else resolve({ changes: this.changes });
      }),
    );
  }

  private serialised<T>(work: () => Promise<T>): Promise<T> {
    const next = this.chain.then(work);
    this.chain = next.catch(() => undefined);
    return next;
  }
}

const BUSY_WAIT_MS = 30_000;

/** Retries while another connection holds the write lock, for up to 30 s, without holding a thread. */
async function retryBusy<T>(attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + BUSY_WAIT_MS;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if ((err as { code?: string }).code !== "SQLITE_BUSY" || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 1 + Math.random() * 3));
    }
  }
}
