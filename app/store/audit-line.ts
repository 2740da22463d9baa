import { createHash } from "node:crypto";

export type AuditDetail = Readonly<Record<string, string | number | boolean | null>>;

/** One audit entry as it appears in the log file; `prev` is the SHA-256 of the line before. */
export interface AuditLineFields {
  readonly seq: number;
  readonly at: string;
  readonly actor: string;
  readonly action: string;
  readonly fileId: string | null;
  readonly sha256: string | null;
  readonly detail: AuditDetail;
  readonly prev: string;
}

export const GENESIS_HASH = "0".repeat(64);

/** The canonical text of an entry: the database row and the log line hash the same bytes. */
export function auditLine(f: AuditLineFields): string {
  return JSON.stringify({ seq: f.seq, at: f.at, actor: f.actor, action: f.action, fileId: f.fileId, sha256: f.sha256, detail: f.detail, prev: f.prev });
}

export function lineHash(line: string): string {
  return createHash("sha256").update(line).digest("hex");
}
