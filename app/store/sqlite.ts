import { chmod, open } from "node:fs/promises";
import BetterSqlite from "better-sqlite3";
import { StoreBusyError } from "../errors/store-busy-error.ts";
import type { Database, SqlExecutor, SqlParams, Transaction } from "./database.ts";

interface PendingTransaction {
  readonly body: (tx: Transaction) => Promise<unknown>;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/**
 * One SQLite connection (better-sqlite3) behind promises. Statements run synchronously on the
 * calling thread: a prepared, cached statement costs microseconds, where a statement sent to
 * libuv's pool (node-sqlite3) cost about 200 µs of CPU across threads. Writes are serialised
 * through one chain, because a connection shares its transaction with every caller: without
 * the chain, a write of one request would land inside (and roll back with) another's
 * transaction. Reads run freely.
 */
export class SqliteDatabase implements Database {
  readonly kind = "sqlite";
  private chain: Promise<unknown> = Promise.resolve();
  /** Transactions waiting for the next group commit. */
  private waiting: PendingTransaction[] = [];
  private readonly statements = new Map<string, BetterSqlite.Statement>();

  private constructor(private readonly db: BetterSqlite.Database) {}

  static async open(file: string): Promise<SqliteDatabase> {
    // The database holds file names and key hashes: the app user's alone, in a DATA_DIR whose
    // files/ clamd's group may read. SQLite gives its -wal and -shm files the database's mode.
    await (await open(file, "a", 0o600)).close();
    for (const f of [file, `${file}-wal`, `${file}-shm`]) await chmod(f, 0o600).catch((err: NodeJS.ErrnoException) => {
      // EPERM: a file another user made; it stays as it is rather than stop the start.
      if (err.code !== "ENOENT" && err.code !== "EPERM") throw err;
    });
    // No busy wait inside SQLite: it would block this thread while another process holds the
    // write lock. retryBusy waits in timers instead.
    const sql = new SqliteDatabase(new BetterSqlite(file, { timeout: 0 }));
    // WAL lets readers run beside the writer; FULL makes a committed verdict survive power loss.
    await sql.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;");
    return sql;
  }

  exec(sql: string): Promise<void> {
    return retryBusy(async () => void this.db.exec(sql));
  }

  get<T>(sql: string, params: SqlParams = []): Promise<T | undefined> {
    return retryBusy(async () => this.prepared(sql).get(params) as T | undefined);
  }

  all<T>(sql: string, params: SqlParams = []): Promise<T[]> {
    return retryBusy(async () => this.prepared(sql).all(params) as T[]);
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
    if (this.waiting.length >= MAX_WAITING_TRANSACTIONS) return Promise.reject(new StoreBusyError(this.waiting.length));
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
    return this.serialised(async () => void this.db.close());
  }

  async schemaVersion(tx: SqlExecutor): Promise<number> {
    return (await tx.get<{ user_version: number }>("PRAGMA user_version"))!.user_version;
  }

  async setSchemaVersion(tx: SqlExecutor, version: number): Promise<void> {
    await tx.run(`PRAGMA user_version = ${Math.trunc(version)}`);
  }

  ddl(sql: string): string {
    return sql;
  }

  exclusively<T>(_name: string, work: () => Promise<T>): Promise<T | undefined> {
    return work();
  }

  private async rawRun(sql: string, params: SqlParams = []): Promise<{ changes: number }> {
    return { changes: this.prepared(sql).run(params).changes };
  }

  private prepared(sql: string): BetterSqlite.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private serialised<T>(work: () => Promise<T>): Promise<T> {
    const next = this.chain.then(work);
    this.chain = next.catch(() => undefined);
    return next;
  }
}

const BUSY_WAIT_MS = 30_000;
/** Transactions that may wait for the next group commit; more are refused, not queued without end. */
const MAX_WAITING_TRANSACTIONS = 10_000;

/** Retries while another connection holds the write lock, for up to 30 s, without holding a thread. */
async function retryBusy<T>(attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + BUSY_WAIT_MS;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (!(err as { code?: string }).code?.startsWith("SQLITE_BUSY") || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 1 + Math.random() * 3));
    }
  }
}
