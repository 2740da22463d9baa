import pg from "pg";
import { StoreBusyError } from "../errors/store-busy-error.ts";
import { StoreUnavailableError } from "../errors/store-unavailable-error.ts";
import type { Database, SqlExecutor, SqlParams, Transaction } from "./database.ts";

/** One advisory lock key for the deployment's write transactions ("msd" in ASCII). */
const WRITE_LOCK = 0x6d7364;
/** How long a statement waits for PostgreSQL to come back (a restart, a failover) before it fails. */
const RECONNECT_WAIT_MS = 30_000;
const MAX_WAITING_TRANSACTIONS = 10_000;
/** SQLSTATE classes and codes that mean the server went away, not that the statement was wrong. */
const CONNECTION_LOST = /^(08|57P0[1-3])/;

/** PostgreSQL's BIGINT and NUMERIC arrive as strings; the store's numbers (sizes, sequences, counts) fit a double. */
const types = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === pg.types.builtins.INT8 || oid === pg.types.builtins.NUMERIC ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/**
 * The store on PostgreSQL (DATABASE_URL), for a deployment of several appliances. A pool of
 * connections; each write transaction first takes one advisory transaction lock, so write
 * transactions run one at a time across every host, as they do under SQLite: the repositories'
 * read-then-write steps and the audit chain (sequence and previous hash) need no other lock.
 * Reads run beside them. A statement that cannot get a connection because the server is down
 * or restarting waits for it up to 30 s, then fails as StoreUnavailableError; a connection lost
 * in the middle of a transaction fails that transaction (its outcome is then rolled back).
 */
export class PostgresDatabase implements Database {
  readonly kind = "postgres";
  private waiting = 0;
  /** This process's write transactions, one at a time: only one of its connections ever waits for the lock. */
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(private readonly pool: pg.Pool) {
    // A connection the server closes (a restart, a failover) must not become an uncaught error:
    // an idle one is dropped by the pool, and a busy one fails its query, which is what counts.
    pool.on("error", () => undefined);
    pool.on("connect", (client) => client.on("error", () => undefined));
  }

  static async open(url: string, applicationName = "medical-scan-daemon"): Promise<PostgresDatabase> {
    const db = new PostgresDatabase(new pg.Pool({ connectionString: url, max: 20, application_name: applicationName, types, connectionTimeoutMillis: 5000 }));
    await db.get("SELECT 1");
    return db;
  }

  run(sql: string, params?: SqlParams): Promise<{ changes: number }> {
    return this.withClient((client) => executor(client).run(sql, params));
  }

  get<T>(sql: string, params?: SqlParams): Promise<T | undefined> {
    return this.withClient((client) => executor(client).get<T>(sql, params));
  }

  all<T>(sql: string, params?: SqlParams): Promise<T[]> {
    return this.withClient((client) => executor(client).all<T>(sql, params));
  }

  async transaction<T>(body: (tx: Transaction) => Promise<T>): Promise<T> {
    if (this.waiting >= MAX_WAITING_TRANSACTIONS) throw new StoreBusyError(this.waiting);
    this.waiting++;
    const turn = this.chain.then(() => this.withClient((client) => inTransaction(client, body)));
    this.chain = turn.catch(() => undefined);
    try {
      return await turn;
    } finally {
      this.waiting--;
    }
  }

  async schemaVersion(tx: SqlExecutor): Promise<number> {
    await tx.run("CREATE TABLE IF NOT EXISTS schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)");
    return (await tx.get<{ version: number }>("SELECT version FROM schema_version WHERE id = 1"))?.version ?? 0;
  }

  async setSchemaVersion(tx: SqlExecutor, version: number): Promise<void> {
    await tx.run("INSERT INTO schema_version (id, version) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET version = excluded.version", [version]);
  }

  /**
   * SQLite's DDL as PostgreSQL spells it: 64-bit integers, text compared byte by byte (as
   * SQLite's BINARY collation does, so ISO timestamps and ids sort the same), and a `rowid`
   * column in every table, which the repositories use for insertion order as in SQLite.
   */
  ddl(sql: string): string {
    return sql
      .replace(/\bINTEGER PRIMARY KEY AUTOINCREMENT\b/g, "BIGINT PRIMARY KEY")
      .replace(/\bINTEGER\b/g, "BIGINT")
      .replace(/\bTEXT\b/g, 'TEXT COLLATE "C"')
      .replace(/\bCREATE TABLE (\w+) \(/g, "CREATE TABLE $1 (\n    rowid BIGINT GENERATED ALWAYS AS IDENTITY,");
  }

  /** A session advisory lock, tried once, on a connection of its own held for the work. */
  async exclusively<T>(name: string, work: () => Promise<T>): Promise<T | undefined> {
    return this.withClient(async (client) => {
      const { rows } = await client.query<{ held: boolean }>("SELECT pg_try_advisory_lock($1, hashtext($2)) AS held", [WRITE_LOCK, name]);
      if (!rows[0]?.held) return undefined;
      try {
        return await work();
      } finally {
        await client.query("SELECT pg_advisory_unlock($1, hashtext($2))", [WRITE_LOCK, name]);
      }
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /** A pooled connection, waiting out a server that is restarting; released broken when it failed mid-use. */
  private async withClient<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.connect();
    try {
      const value = await work(client);
      client.release();
      return value;
    } catch (err) {
      client.release(lost(err) ? (err as Error) : undefined);
      throw lost(err) ? new StoreUnavailableError(err) : err;
    }
  }

  private async connect(): Promise<pg.PoolClient> {
    const deadline = Date.now() + RECONNECT_WAIT_MS;
    for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
      try {
        return await this.pool.connect();
      } catch (err) {
        if (Date.now() + delay > deadline) throw new StoreUnavailableError(err);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }
}

/** BEGIN, the deployment's write lock, the body, its beforeCommit steps, COMMIT; ROLLBACK on any failure. */
async function inTransaction<T>(client: pg.PoolClient, body: (tx: Transaction) => Promise<T>): Promise<T> {
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock($1)", [WRITE_LOCK]);
    const steps: (() => Promise<void>)[] = [];
    const value = await body({ ...executor(client), beforeCommit: (step) => steps.push(step) });
    await Promise.all(steps.map((step) => step()));
    await client.query("COMMIT");
    return value;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
}

function executor(client: pg.PoolClient): SqlExecutor {
  return {
    run: async (sql, params = []) => ({ changes: (await client.query(numbered(sql), [...params])).rowCount ?? 0 }),
    get: async <T>(sql: string, params: SqlParams = []) => (await client.query(numbered(sql), [...params])).rows[0] as T | undefined,
    all: async <T>(sql: string, params: SqlParams = []) => (await client.query(numbered(sql), [...params])).rows as T[],
  };
}

function lost(err: unknown): boolean {
  if (/^Connection terminated/.test((err as Error).message ?? "")) return true;
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" && (CONNECTION_LOST.test(code) || ["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT"].includes(code));
}

const numberedCache = new Map<string, string>();

/** `?` placeholders as PostgreSQL's `$1, $2, …`; a `?` inside a quoted literal is left alone. */
export function numbered(sql: string): string {
  let out = numberedCache.get(sql);
  if (out === undefined) {
    let n = 0;
    out = sql.replace(/'(?:[^']|'')*'|\?/g, (m) => (m === "?" ? `$${++n}` : m));
    numberedCache.set(sql, out);
  }
  return out;
}
