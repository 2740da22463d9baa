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
export async function openDownload(store: Store, file: FileRecord, actor: string, options: { readonly virusTotalRequired: boolean }): Promise<Download> {
  const latest = await store.scans.latestForFile(file.id);
  const name = file.clientId;
  if (!latest) throw new ContentUnavailableError("NOT_SCANNED", `file ${name} has not been scanned yet`);
  if (latest.status !== "clean") throw new ContentUnavailableError("NOT_CLEAN", `file ${name} is ${latest.status}; only clean files are served`);
  const pending = latest.results.incomplete?.find((m) => m.engine === "virustotal");
  if (options.virusTotalRequired && pending) {
    throw new ContentUnavailableError("VIRUSTOTAL_PENDING", `file ${name} is clean on the local engines, but VirusTotal has not answered yet (${pending.code}); it is served once a follow-up scan has its answer`);
  }
  if (!file.storedPath || !["stored", "released"].includes(file.state)) throw new ContentUnavailableError("FILE_EXPIRED", `file ${name} is ${file.state}; its bytes are no longer kept`);
  const handle = await open(file.storedPath, "r").catch(() => {
    throw new ContentUnavailableError("FILE_EXPIRED", `file ${name} is no longer kept`);
  });
  try {
    await store.audit.record({ actor, action: "download", fileId: file.id, sha256: file.sha256, detail: { scanId: latest.id, size: file.size } });
  } catch (err) {
    await handle.close();
    throw err;
  }
  return { file, handle };
}
