import { auditLine, GENESIS_HASH, KEYED, lineHash, type AuditDetail } from "./audit-line.ts";
import type { AuditLogFile } from "./audit-log-file.ts";
import type { Database, SqlExecutor, Transaction } from "./database.ts";

export type AuditAction =
  | "upload"
  | "verdict"
  | "download"
  | "rescan"
  | "quarantine"
  | "quarantine_release"
  | "quarantine_delete"
  | "quarantine_purge"
  | "file_expire"
  | "file_missing"
  | "job_redrive"
  | "followup"
  | "key_create"
  | "key_revoke"
  | "auth_failed"
  | "audit_keyed";

export interface AuditEntry {
  readonly actor: string;
  readonly action: AuditAction;
  readonly fileId?: string;
  readonly sha256?: string;
  /** Ids, hashes, verdicts and counts only: never a file name or file content. */
  readonly detail: AuditDetail;
}

export interface AuditRow {
  readonly seq: number;
  readonly at: string;
  readonly host: string | null;
  readonly actor: string;
  readonly action: string;
  readonly file_id: string | null;
  readonly sha256: string | null;
  readonly detail: string;
  readonly prev_hash: string;
  readonly hash: string;
}

/** The log line a table row stands for, as written plain or with AUDIT_HMAC_KEY. */
export function rowLine(row: AuditRow, keyed: boolean): string {
  return auditLine({ seq: row.seq, at: row.at, host: row.host, actor: row.actor, action: row.action, fileId: row.file_id, sha256: row.sha256, detail: JSON.parse(row.detail) as AuditDetail, prev: row.prev_hash, keyed });
}

/**
 * The audit table and logs/scan-audit.log, one chain for both: each entry's hash is the
 * SHA-256 of its log line, and each line holds the hash of the line before. The line is
 * written inside the caller's transaction, under the store's write lock, so entries from every
 * process reach the file in the order of their sequence numbers; an action, its row and its
 * line stand or fall together. In a deployment (PostgreSQL) the chain is the deployment's:
 * each entry names the host that wrote it, and each host's log holds the lines it wrote.
 */
export class AuditRepo {
  constructor(
    private readonly db: Database,
    private readonly file: AuditLogFile,
    /** AUDIT_HMAC_KEY: entries are then chained with HMAC-SHA256. */
    private readonly key?: Buffer,
    /** HOST_ID in a deployment of several hosts; undefined on a single appliance. */
    readonly host?: string,
  ) {}

  async append(tx: Transaction, entry: AuditEntry, now: string): Promise<void> {
    const last = await tx.get<{ seq: number; hash: string }>("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
    const seq = (last?.seq ?? 0) + 1;
    const prev = last?.hash ?? GENESIS_HASH;
    const line = auditLine({ seq, at: now, host: this.host, actor: entry.actor, action: entry.action, fileId: entry.fileId ?? null, sha256: entry.sha256 ?? null, detail: entry.detail, prev, keyed: this.key !== undefined });
    await tx.run("INSERT INTO audit (seq, at, host, actor, action, file_id, sha256, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
      seq,
      now,
      this.host ?? null,
      entry.actor,
      entry.action,
      entry.fileId ?? null,
      entry.sha256 ?? null,
      JSON.stringify(entry.detail),
      prev,
      lineHash(line, this.key),
    ]);
    tx.beforeCommit(() => this.file.append(line));
  }

  /**
   * With a key, an entry that says the chain is keyed from here on, when the last entry is not
   * (the key was just set): a verifier can then require the trail to end keyed.
   */
  async markKeyed(): Promise<void> {
    if (!this.key) return;
    await this.db.transaction(async (tx) => {
      const last = await tx.get<AuditRow>("SELECT * FROM audit ORDER BY seq DESC LIMIT 1");
      if (last && lineHash(rowLine(last, true), this.key) === last.hash) return;
      await this.append(tx, { actor: "system", action: "audit_keyed", detail: { algorithm: KEYED } }, new Date().toISOString());
    });
  }

  /** An entry that is its own transaction (a download, a failed authentication). */
  record(entry: AuditEntry, now = new Date().toISOString()): Promise<void> {
    return this.db.transaction((tx) => this.append(tx, entry, now));
  }

  /** Every row in sequence order, a page at a time. */
  async *rows(db: SqlExecutor = this.db, pageSize = 5000): AsyncGenerator<AuditRow> {
    for (let after = 0; ; ) {
      const page = await db.all<AuditRow>("SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?", [after, pageSize]);
      yield* page;
      if (page.length < pageSize) return;
      after = page[page.length - 1]!.seq;
    }
  }

  get logPath(): string {
    return this.file.path;
  }
}
