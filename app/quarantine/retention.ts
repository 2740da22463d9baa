import type { Logger } from "../log.ts";
import type { Quarantine } from "./quarantine.ts";
import type { Store } from "../store/store.ts";
import type { FileStorage } from "../intake/file-storage.ts";

export interface RetentionPolicy {
  readonly quarantineDays: number;
  /** 0 keeps clean files until they are deleted. */
  readonly fileDays: number;
}

/** Purges quarantine entries and clean files older than the policy allows; returns the counts. */
export async function applyRetention(
  deps: { store: Store; storage: FileStorage; quarantine: Quarantine; log: Logger },
  policy: RetentionPolicy,
  now = new Date(),
): Promise<{ purged: number; expired: number }> {
  const { store, storage, quarantine, log } = deps;
  const purged = await quarantine.purge(policy.quarantineDays, now);
  let expired = 0;
  if (policy.fileDays > 0) {
    const cutoff = new Date(now.getTime() - policy.fileDays * 86_400_000).toISOString();
    for (const file of await store.files.listByState(["stored", "released"], cutoff)) {
      const at = new Date().toISOString();
      const done = await store.db.transaction(async (tx) => {
        if (!(await store.files.transition(tx, file.id, ["stored", "released"], { state: "expired", storedPath: null }, at))) return false;
        await store.audit.append(tx, { actor: "retention", action: "file_expire", fileId: file.id, sha256: file.sha256, detail: { days: policy.fileDays } }, at);
        return true;
      });
      if (done && file.storedPath) await storage.remove(file.storedPath);
      if (done) expired++;
    }
  }
  if (purged + expired > 0) log.info({ purged, expired }, "retention applied");
  return { purged, expired };
}
