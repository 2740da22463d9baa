import { createHash, createHmac } from "node:crypto";

export type AuditDetail = Readonly<Record<string, string | number | boolean | null>>;

/** One audit entry as it appears in the log file; `prev` is the SHA-256 of the line before. */
export interface AuditLineFields {
  readonly seq: number;
  readonly at: string;
  /** The host that wrote it, in a deployment of several (DATABASE_URL); absent on a single appliance. */
  readonly host?: string | null;
  readonly actor: string;
  readonly action: string;
  readonly fileId: string | null;
  readonly sha256: string | null;
  readonly detail: AuditDetail;
  readonly prev: string;
  /** Hashed with AUDIT_HMAC_KEY: the line says so, so that a verifier knows which hash to expect. */
  readonly keyed?: boolean;
}

export const GENESIS_HASH = "0".repeat(64);

/** The canonical text of an entry: the database row and the log line hash the same bytes. */
export function auditLine(f: AuditLineFields): string {
  const fields = { seq: f.seq, at: f.at, ...(f.host ? { host: f.host } : {}), actor: f.actor, action: f.action, fileId: f.fileId, sha256: f.sha256, detail: f.detail, prev: f.prev };
  return JSON.stringify(f.keyed ? { ...fields, mac: KEYED } : fields);
}

export const KEYED = "hmac-sha256";

/**
 * A line's hash: SHA-256, or HMAC-SHA256 under AUDIT_HMAC_KEY, which whoever can write the
 * database and the log but does not hold the key cannot recompute.
 */
export function lineHash(line: string, key?: Buffer): string {
  return key ? createHmac("sha256", key).update(line).digest("hex") : createHash("sha256").update(line).digest("hex");
}
