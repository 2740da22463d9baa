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

export type DatabaseKind = "sqlite" | "postgres";

/**
 * The store's database: SQLite under DATA_DIR (one appliance) or PostgreSQL (DATABASE_URL, a
 * deployment of many). The repositories write one SQL for both, with `?` placeholders and
 * what the two share; each implementation keeps its own transaction mechanics. Write
 * transactions are serialised in both (SQLite has one writer; PostgreSQL takes one advisory
 * lock per transaction), so a read-then-write inside a transaction means the same on both.
 */
export interface Database extends SqlExecutor {
  readonly kind: DatabaseKind;
  transaction<T>(body: (tx: Transaction) => Promise<T>): Promise<T>;
  /** The schema step this database is at (0: new). */
  schemaVersion(tx: SqlExecutor): Promise<number>;
  setSchemaVersion(tx: SqlExecutor, version: number): Promise<void>;
  /**
   * Runs `work` unless another host of the deployment is running work of the same name (then
   * undefined, at once). SQLite has one host, so it just runs it.
   */
  exclusively<T>(name: string, work: () => Promise<T>): Promise<T | undefined>;
  /** A migration's DDL as this database spells it. */
  ddl(sql: string): string;
  close(): Promise<void>;
}

/** A write refused by a UNIQUE or other constraint, as SQLite (SQLITE_CONSTRAINT_*) or PostgreSQL (class 23) reports it. */
export function isConstraintViolation(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" && (code.startsWith("SQLITE_CONSTRAINT") || /^23[0-9A-Z]{3}$/.test(code));
}
