import { chmod, stat } from "node:fs/promises";
import { ContentUnavailableError } from "../errors/content-unavailable-error.ts";
import { NotFoundError } from "../errors/not-found-error.ts";
import type { ScanResult } from "../verdict/scan-result.ts";
import { moveDurably } from "../intake/durable-fs.ts";
import { STORED_FILE_MODE, type FileStorage } from "../intake/file-storage.ts";
import type { FileRecord } from "../store/file-repo.ts";
import type { QuarantineEntry, QuarantineState } from "../store/quarantine-repo.ts";
import { scratchPath } from "../scan/scratch.ts";
import type { Store } from "../store/store.ts";
import type { QuarantineVault } from "./quarantine-vault.ts";

/**
 * Keeps files that are not clean out of reach. The verdict is committed before the move
 * (file state `quarantining`), so a failed or interrupted move never leaves the file
 * reachable as clean; `admit` is safe to run again and the reconciler finishes such moves.
 */
export class Quarantine {
  constructor(
    private readonly store: Store,
    private readonly vault: QuarantineVault,
    private readonly storage: FileStorage,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Moves a file in state `quarantining` into the vault; the scan id names the entry. */
  async admit(file: FileRecord, scanId: string, result: Pick<ScanResult, "status" | "threatLevel">): Promise<void> {
    if (file.state !== "quarantining" || !file.storedPath) return;
    const dest = this.vault.pathFor(scanId);
    // Source, then vault: a move running beside this one makes the vault's copy before it
    // removes the source. A crash after the move but before the commit leaves the bytes in the
    // vault already.
    const sourceThere = await exists(file.storedPath);
    const now = this.now().toISOString();
    if (!sourceThere && !(await exists(dest))) return this.recordMissing(file, scanId, result, now);
    if (sourceThere) await this.vault.admit(file.storedPath, scanId);
    await this.store.db.transaction(async (tx) => {
      if (!(await this.store.files.transition(tx, file.id, ["quarantining"], { state: "quarantined", storedPath: null }, now))) return;
      await this.store.quarantine.insert(tx, {
        id: scanId,
        fileId: file.id,
        scanId,
        path: dest,
        sha256: file.sha256,
        size: file.size,
        verdict: result.status,
        threatLevel: result.threatLevel,
        encrypted: this.vault.encrypts,
        createdAt: now,
      });
      await this.store.audit.append(tx, { actor: "system", action: "quarantine", fileId: file.id, sha256: file.sha256, detail: { quarantineId: scanId, verdict: result.status } }, now);
    });
  }

  /**
   * Bytes removed from DATA_DIR behind the service's back: nothing is left to hold, and a file
   * left `quarantining` would have every reconciler pass try again. Its verdict stays.
   */
  private async recordMissing(file: FileRecord, scanId: string, result: Pick<ScanResult, "status">, now: string): Promise<void> {
    await this.store.db.transaction(async (tx) => {
      if (!(await this.store.files.transition(tx, file.id, ["quarantining"], { state: "deleted", storedPath: null }, now))) return;
      await this.store.audit.append(tx, { actor: "system", action: "file_missing", fileId: file.id, sha256: file.sha256, detail: { scanId, verdict: result.status } }, now);
    });
  }

  list(state: QuarantineState = "held"): Promise<QuarantineEntry[]> {
    return this.store.quarantine.list(state);
  }

  /**
   * Restores the original bytes under DATA_DIR; the file becomes downloadable again. Bytes
   * that are not the ones quarantined (their SHA-256 differs) are never released.
   */
  async release(id: string, actor: string): Promise<QuarantineEntry> {
    const entry = await this.held(id);
    // A scratch name: a release killed midway leaves plaintext that the scratch sweep removes.
    const incoming = scratchPath(this.storage.incomingDir, "release");
    const sha256 = await this.vault.extract(entry.path, entry.encrypted, incoming, entry.id);
    if (sha256 !== entry.sha256) {
      await this.storage.remove(incoming);
      throw new ContentUnavailableError("QUARANTINE_INTEGRITY", `quarantine entry ${id} does not hold the bytes it quarantined; it stays held`);
    }
    const dest = this.storage.pathFor(entry.fileId);
    await chmod(incoming, STORED_FILE_MODE);
    await moveDurably(incoming, dest);
    const now = this.now().toISOString();
    const released = await this.store.db.transaction(async (tx) => {
      if (!(await this.store.quarantine.close(tx, id, "released", actor, now))) return false;
      await this.store.files.transition(tx, entry.fileId, ["quarantined"], { state: "released", storedPath: dest }, now);
      await this.store.audit.append(tx, { actor, action: "quarantine_release", fileId: entry.fileId, sha256: entry.sha256, detail: { quarantineId: id } }, now);
      return true;
    });
    if (!released) {
      await this.storage.remove(dest);
      throw new NotFoundError("QUARANTINE_NOT_FOUND", `no held quarantine entry ${id}`);
    }
    await this.vault.remove(entry.path);
    return entry;
  }

  /**
   * A file held only because its scan could not finish (an `error` verdict) goes back once a
   * rescan proves it clean; infected and suspicious files wait for an admin.
   */
  async releaseAfterCleanRescan(fileId: string): Promise<void> {
    const entry = await this.store.quarantine.heldForError(fileId);
    if (entry) await this.release(entry.id, "rescan");
  }

  async delete(id: string, actor: string, action: "quarantine_delete" | "quarantine_purge" = "quarantine_delete"): Promise<QuarantineEntry> {
    const entry = await this.held(id);
    const now = this.now().toISOString();
    const deleted = await this.store.db.transaction(async (tx) => {
      if (!(await this.store.quarantine.close(tx, id, "deleted", actor, now))) return false;
      await this.store.files.transition(tx, entry.fileId, ["quarantined"], { state: "deleted" }, now);
      await this.store.audit.append(tx, { actor, action, fileId: entry.fileId, sha256: entry.sha256, detail: { quarantineId: id } }, now);
      return true;
    });
    if (!deleted) throw new NotFoundError("QUARANTINE_NOT_FOUND", `no held quarantine entry ${id}`);
    await this.vault.remove(entry.path);
    return entry;
  }

  /** Deletes entries held longer than `days`; returns how many. */
  async purge(days: number, now = this.now(), actor = "retention"): Promise<number> {
    const cutoff = new Date(now.getTime() - days * 86_400_000).toISOString();
    let purged = 0;
    for (const entry of await this.store.quarantine.list("held", cutoff)) {
      await this.delete(entry.id, actor, "quarantine_purge");
      purged++;
    }
    return purged;
  }

  /** A plaintext copy of a quarantined file at `dest`, for a rescan; false when the entry is gone or its bytes are not the ones quarantined. */
  async extractForScan(fileId: string, dest: string): Promise<boolean> {
    const entry = await this.store.quarantine.heldForFile(fileId);
    if (!entry) return false;
    return (await this.vault.extract(entry.path, entry.encrypted, dest, entry.id)) === entry.sha256;
  }

  private async held(id: string): Promise<QuarantineEntry> {
    const entry = await this.store.quarantine.get(id);
    if (!entry || entry.state !== "held") throw new NotFoundError("QUARANTINE_NOT_FOUND", `no held quarantine entry ${id}`);
    return entry;
  }
}

/** False only when nothing is there; any other failure to look is thrown, never taken as absent. */
async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      // ENOTDIR: a folder on the way is a file, so nothing can be there either.
      if (err.code === "ENOENT" || err.code === "ENOTDIR") return false;
      throw err;
    },
  );
}
