import { open, type FileHandle } from "node:fs/promises";
import { ContentUnavailableError } from "../errors/content-unavailable-error.ts";
import type { FileRecord } from "../store/file-repo.ts";
import type { Store } from "../store/store.ts";

export interface Download {
  readonly file: FileRecord;
  /** Open on the stored bytes; the caller streams and closes it. */
  readonly handle: FileHandle;
}

/**
 * Hands out a file's bytes only when its latest scan is clean, and audits each hand-out.
 * The file is opened before the audit row is written, so retention removing it meanwhile
 * cannot leave a download audited that never happened.
 */
export async function openDownload(store: Store, file: FileRecord, actor: string): Promise<Download> {
  const latest = await store.scans.latestForFile(file.id);
  if (!latest) throw new ContentUnavailableError("NOT_SCANNED", `file ${file.id} has not been scanned yet`);
  if (latest.status !== "clean") throw new ContentUnavailableError("NOT_CLEAN", `file ${file.id} is ${latest.status}; only clean files are served`);
  if (!file.storedPath || !["stored", "released"].includes(file.state)) throw new ContentUnavailableError("FILE_EXPIRED", `file ${file.id} is ${file.state}; its bytes are no longer kept`);
  const handle = await open(file.storedPath, "r").catch(() => {
    throw new ContentUnavailableError("FILE_EXPIRED", `file ${file.id} is no longer kept`);
  });
  try {
    await store.audit.record({ actor, action: "download", fileId: file.id, sha256: file.sha256, detail: { scanId: latest.id, size: file.size } });
  } catch (err) {
    await handle.close();
    throw err;
  }
  return { file, handle };
}
