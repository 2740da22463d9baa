import type { Tier } from "../verdict/tiers.ts";
import type { SqlExecutor } from "./database.ts";

/**
 * queued: accepted, no verdict yet · stored: clean, kept in DATA_DIR · quarantining: a verdict
 * that is not clean is recorded and the move is under way · quarantined · released: an admin
 * let it out · deleted · expired: removed by the retention setting.
 */
export type FileState = "queued" | "stored" | "quarantining" | "quarantined" | "released" | "deleted" | "expired";

export interface FileRecord {
  /** The internal id: storage, scans, quarantine and the audit trail use it. */
  readonly id: string;
  /** The id its owner knows it by (their fileId), unique among the owner's files only. */
  readonly clientId: string;
  readonly ownerId: string;
  readonly tier: Tier;
  /** Sanitised for display only; never used as a path and never logged. */
  readonly originalName: string;
  /** Where the bytes are in DATA_DIR; null once they moved to quarantine or were removed. */
  readonly storedPath: string | null;
  readonly size: number;
  readonly sha256: string;
  readonly detectedType: string | null;
  /** The Content-Type the client declared for the upload, if any. */
  readonly declaredType: string | null;
  readonly state: FileState;
  readonly createdAt: string;
  readonly updatedAt: string;
}

interface FileRow {
  id: string;
  client_id: string | null;
  owner_id: string;
  tier: Tier;
  original_name: string;
  stored_path: string | null;
  size: number;
  sha256: string;
  detected_type: string | null;
  declared_type: string | null;
  state: FileState;
  created_at: string;
  updated_at: string;
}

const toRecord = (r: FileRow): FileRecord => ({
  id: r.id,
  clientId: r.client_id ?? r.id,
  ownerId: r.owner_id,
  tier: r.tier,
  originalName: r.original_name,
  storedPath: r.stored_path,
  size: r.size,
  sha256: r.sha256,
  detectedType: r.detected_type,
  declaredType: r.declared_type,
  state: r.state,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class FileRepo {
  constructor(private readonly db: SqlExecutor) {}

  async insert(tx: SqlExecutor, f: Omit<FileRecord, "createdAt" | "updatedAt" | "detectedType">, now: string): Promise<void> {
    await tx.run(
      "INSERT INTO files (id, client_id, owner_id, tier, original_name, stored_path, size, sha256, detected_type, declared_type, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?)",
      [f.id, f.clientId, f.ownerId, f.tier, f.originalName, f.storedPath, f.size, f.sha256, f.declaredType, f.state, now, now],
    );
  }

  async get(id: string, db: SqlExecutor = this.db): Promise<FileRecord | undefined> {
    const row = await db.get<FileRow>("SELECT * FROM files WHERE id = ?", [id]);
    return row && toRecord(row);
  }

  /** An owner's file by the id they gave it. */
  async forOwner(ownerId: string, clientId: string, db: SqlExecutor = this.db): Promise<FileRecord | undefined> {
    const row = await db.get<FileRow>("SELECT * FROM files WHERE owner_id = ? AND client_id = ?", [ownerId, clientId]);
    return row && toRecord(row);
  }

  /** Moves a file to `state` only from one of `from`; false when another writer got there first. */
  async transition(tx: SqlExecutor, id: string, from: readonly FileState[], to: { state: FileState; storedPath?: string | null; detectedType?: string | null }, now: string): Promise<boolean> {
    const sets = ["state = ?", "updated_at = ?"];
    const params: (string | null)[] = [to.state, now];
    if (to.storedPath !== undefined) {
      sets.push("stored_path = ?");
      params.push(to.storedPath);
    }
    if (to.detectedType !== undefined) {
      sets.push("detected_type = COALESCE(?, detected_type)");
      params.push(to.detectedType);
    }
    const { changes } = await tx.run(`UPDATE files SET ${sets.join(", ")} WHERE id = ? AND state IN (${from.map(() => "?").join(", ")})`, [...params, id, ...from]);
    return changes === 1;
  }

  /**
   * An owner's files, newest first, each with its latest verdict; `after` is the (created_at, id)
   * of the last file of the previous page, so a page never skips or repeats a file.
   */
  async listForOwner(ownerId: string, limit: number, after?: { createdAt: string; id: string }): Promise<(FileRecord & { status: string | null; threatLevel: string | null })[]> {
    const rows = await this.db.all<FileRow & { latest_status: string | null; latest_threat: string | null }>(
      `SELECT f.*, s.status AS latest_status, s.threat_level AS latest_threat
       FROM files f
       LEFT JOIN scan_results s ON s.rowid = (SELECT rowid FROM scan_results WHERE file_id = f.id ORDER BY created_at DESC, rowid DESC LIMIT 1)
       WHERE f.owner_id = ? ${after ? "AND (f.created_at, f.id) < (?, ?)" : ""}
       ORDER BY f.created_at DESC, f.id DESC LIMIT ?`,
      [ownerId, ...(after ? [after.createdAt, after.id] : []), limit],
    );
    return rows.map((r) => ({ ...toRecord(r), status: r.latest_status, threatLevel: r.latest_threat }));
  }

  async listByState(states: readonly FileState[], createdBefore?: string): Promise<FileRecord[]> {
    const rows = await this.db.all<FileRow>(
      `SELECT * FROM files WHERE state IN (${states.map(() => "?").join(", ")}) AND created_at < ? ORDER BY created_at`,
      [...states, createdBefore ?? "9999"],
    );
    return rows.map(toRecord);
  }
}
