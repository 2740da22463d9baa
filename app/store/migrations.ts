import type { Database } from "./database.ts";

/**
 * Schema versions, applied in order: one list for both databases, written in SQLite's DDL and
 * spelled for PostgreSQL by its `ddl()`; the version is recorded in SQLite's `user_version` or
 * PostgreSQL's `schema_version` table. Never edit a released step: add the next one.
 * `scan_results` and `scan_queue_status` keep the seed's column names (outside readers depend
 * on them) and add columns after them.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE files (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    tier TEXT NOT NULL,
    original_name TEXT NOT NULL,
    stored_path TEXT,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    detected_type TEXT,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE INDEX files_owner ON files (owner_id, created_at);
  CREATE INDEX files_state ON files (state, created_at);

  CREATE TABLE scan_results (
    id TEXT PRIMARY KEY,
    file_id TEXT NOT NULL REFERENCES files (id),
    file_path TEXT NOT NULL,
    file_hash TEXT NOT NULL,
    scan_type TEXT NOT NULL,
    user_tier TEXT NOT NULL,
    status TEXT NOT NULL,
    threat_level TEXT DEFAULT 'clean',
    scan_engines TEXT NOT NULL,
    results TEXT NOT NULL,
    scan_time INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    job_id TEXT NOT NULL UNIQUE
  );
  CREATE INDEX scan_results_file ON scan_results (file_id, created_at);

  CREATE TABLE scan_queue_status (
    job_id TEXT PRIMARY KEY,
    file_id TEXT NOT NULL REFERENCES files (id),
    status TEXT NOT NULL,
    progress INTEGER DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    scan_type TEXT NOT NULL,
    user_tier TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
  );
  CREATE INDEX scan_queue_open ON scan_queue_status (status);

  CREATE TABLE quarantine (
    id TEXT PRIMARY KEY,
    file_id TEXT NOT NULL REFERENCES files (id),
    scan_id TEXT NOT NULL REFERENCES scan_results (id),
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    verdict TEXT NOT NULL,
    threat_level TEXT NOT NULL,
    encrypted INTEGER NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    closed_at TEXT,
    closed_by TEXT
  );
  CREATE INDEX quarantine_state ON quarantine (state, created_at);

  CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    key_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    tier TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('user', 'admin')),
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    last_used_at TEXT
  );

  CREATE TABLE service_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );

  CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    file_id TEXT,
    sha256 TEXT,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
  );
  `,
  // The Content-Type the client declared for the upload, checked against the content by validation.
  `
  ALTER TABLE files ADD COLUMN declared_type TEXT;
  `,
  // A client's fileId names a file among its owner's only: another tenant may use the same id.
  // The internal id stays the client's id unless another owner holds it already.
  `
  ALTER TABLE files ADD COLUMN client_id TEXT;
  UPDATE files SET client_id = id WHERE client_id IS NULL;
  CREATE UNIQUE INDEX files_owner_client ON files (owner_id, client_id);
  `,
  // In a deployment of several hosts (PostgreSQL), the host that wrote each audit entry.
  `
  ALTER TABLE audit ADD COLUMN host TEXT;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Brings the schema to this build's; every host of a deployment may run it at once (the write lock orders them). */
export async function migrate(db: Database): Promise<void> {
  await db.transaction(async (tx) => {
    const current = await db.schemaVersion(tx);
    if (current > MIGRATIONS.length) throw new Error(`database schema ${current} is newer than this build (${MIGRATIONS.length}); refusing to run`);
    for (const [i, step] of MIGRATIONS.entries()) {
      if (i < current) continue;
      for (const statement of db.ddl(step).split(";").map((s) => s.trim()).filter(Boolean)) await tx.run(statement);
      await db.setSchemaVersion(tx, i + 1);
    }
  });
}
