import { createHash } from "node:crypto";
import type { SqlExecutor } from "./sqlite.ts";

export type AuditAction = "upload" | "verdict" | "rescan" | "quarantine" | "quarantine_release" | "quarantine_delete" | "quarantine_purge" | "file_expire" | "job_redrive";

export interface AuditEntry {
  readonly actor: string;
  readonly action: AuditAction;
  readonly fileId?: string;
  readonly sha256?: string;
  /** Ids, hashes, verdicts and counts only: never a file name or file content. */
  readonly detail: Readonly<Record<string, string | number | boolean | null>>;
}

/**
 * The audit table: each row holds the SHA-256 of the previous row's hash and its own fields,
 * so a changed or deleted row breaks the chain. Appended inside the caller's transaction, so
 * an action and its audit row commit together.
 */
export class AuditRepo {
  async append(tx: SqlExecutor, entry: AuditEntry, now: string): Promise<void> {
    const last = await tx.get<{ hash: string }>("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1");
    const prev = last?.hash ?? "0".repeat(64);
    const detail = JSON.stringify(entry.detail);
    const hash = createHash("sha256")
      .update(JSON.stringify([prev, now, entry.actor, entry.action, entry.fileId ?? null, entry.sha256 ?? null, detail]))
      .digest("hex");
    await tx.run("INSERT INTO audit (at, actor, action, file_id, sha256, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [
      now,
      entry.actor,
      entry.action,
      entry.fileId ?? null,
      entry.sha256 ?? null,
      detail,
      prev,
      hash,
    ]);
  }
}
