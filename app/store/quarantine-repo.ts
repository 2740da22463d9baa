import type { ScanResult } from "../verdict/scan-result.ts";
import type { SqlExecutor } from "./database.ts";

export type QuarantineState = "held" | "released" | "deleted";

export interface QuarantineEntry {
  readonly id: string;
  readonly fileId: string;
  readonly scanId: string;
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
  readonly verdict: ScanResult["status"];
  readonly threatLevel: ScanResult["threatLevel"];
  readonly encrypted: boolean;
  readonly state: QuarantineState;
  readonly createdAt: string;
  readonly closedAt: string | null;
  readonly closedBy: string | null;
}

interface QuarantineRow {
  id: string;
  file_id: string;
  scan_id: string;
  path: string;
  sha256: string;
  size: number;
  verdict: ScanResult["status"];
  threat_level: ScanResult["threatLevel"];
  encrypted: number;
  state: QuarantineState;
  created_at: string;
  closed_at: string | null;
  closed_by: string | null;
}

const toEntry = (r: QuarantineRow): QuarantineEntry => ({
  id: r.id,
  fileId: r.file_id,
  scanId: r.scan_id,
  path: r.path,
  sha256: r.sha256,
  size: r.size,
  verdict: r.verdict,
  threatLevel: r.threat_level,
  encrypted: r.encrypted === 1,
  state: r.state,
  createdAt: r.created_at,
  closedAt: r.closed_at,
  closedBy: r.closed_by,
});

export class QuarantineRepo {
  constructor(private readonly db: SqlExecutor) {}

  async insert(tx: SqlExecutor, e: Omit<QuarantineEntry, "state" | "closedAt" | "closedBy">): Promise<void> {
    await tx.run(
      "INSERT INTO quarantine (id, file_id, scan_id, path, sha256, size, verdict, threat_level, encrypted, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'held', ?)",
      [e.id, e.fileId, e.scanId, e.path, e.sha256, e.size, e.verdict, e.threatLevel, e.encrypted ? 1 : 0, e.createdAt],
    );
  }

  async get(id: string, db: SqlExecutor = this.db): Promise<QuarantineEntry | undefined> {
    const row = await db.get<QuarantineRow>("SELECT * FROM quarantine WHERE id = ?", [id]);
    return row && toEntry(row);
  }

  async heldForFile(fileId: string, db: SqlExecutor = this.db): Promise<QuarantineEntry | undefined> {
    const row = await db.get<QuarantineRow>("SELECT * FROM quarantine WHERE file_id = ? AND state = 'held'", [fileId]);
    return row && toEntry(row);
  }

  /** The held entry of a file held only because its scan could not finish (an `error` verdict), which a clean rescan releases. */
  async heldForError(fileId: string): Promise<QuarantineEntry | undefined> {
    const entry = await this.heldForFile(fileId);
    return entry?.verdict === "error" ? entry : undefined;
  }

  async list(state: QuarantineState = "held", createdBefore = "9999"): Promise<QuarantineEntry[]> {
    const rows = await this.db.all<QuarantineRow>("SELECT * FROM quarantine WHERE state = ? AND created_at < ? ORDER BY created_at", [state, createdBefore]);
    return rows.map(toEntry);
  }

  /** Closes a held entry; false when it was not held any more (another admin, a purge). */
  async close(tx: SqlExecutor, id: string, state: Exclude<QuarantineState, "held">, actor: string, now: string): Promise<boolean> {
    const { changes } = await tx.run("UPDATE quarantine SET state = ?, closed_at = ?, closed_by = ? WHERE id = ? AND state = 'held'", [state, now, actor, id]);
    return changes === 1;
  }
}
