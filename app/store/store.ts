import { mkdir } from "node:fs/promises";
import path from "node:path";
import { ConfigError } from "../errors/config-error.ts";
import { AuditLogFile } from "./audit-log-file.ts";
import { ApiKeyRepo } from "./api-key-repo.ts";
import { AuditRepo } from "./audit-repo.ts";
import { FileRepo } from "./file-repo.ts";
import { migrate } from "./migrations.ts";
import { QuarantineRepo } from "./quarantine-repo.ts";
import { ScanRepo } from "./scan-repo.ts";
import { SqliteDatabase } from "./sqlite.ts";

/** The SQLite file under DATA_DIR and its tables, migrated to this build's schema. */
export interface Store {
  readonly db: SqliteDatabase;
  readonly files: FileRepo;
  readonly scans: ScanRepo;
  readonly quarantine: QuarantineRepo;
  readonly audit: AuditRepo;
  readonly apiKeys: ApiKeyRepo;
  close(): Promise<void>;
}

export const DATABASE_FILE = "scan-daemon.sqlite";

/**
 * Opens the store for one queue, its audit rows mirrored into LOG_DIR/scan-audit.log. A DATA_DIR belongs to the first queue that used it: the
 * reconciler re-queues whatever SQLite holds open, so a second queue sharing the file would
 * take over the first one's jobs.
 */
export async function openStore(dataDir: string, queueName: string, logDir: string, auditKey?: Buffer): Promise<Store> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const db = await SqliteDatabase.open(path.join(dataDir, DATABASE_FILE));
  try {
    await migrate(db);
    await db.run("INSERT OR IGNORE INTO service_meta (key, value) VALUES ('queue_name', ?)", [queueName]);
    const owner = await db.get<{ value: string }>("SELECT value FROM service_meta WHERE key = 'queue_name'");
    if (owner?.value !== queueName) {
      throw new ConfigError([`SCAN_QUEUE_NAME=${JSON.stringify(queueName)}: DATA_DIR ${dataDir} belongs to queue ${JSON.stringify(owner?.value)}; give each queue its own DATA_DIR`]);
    }
  } catch (err) {
    await db.close();
    throw err;
  }
  const auditLog = AuditLogFile.inDir(logDir);
  return {
    db,
    files: new FileRepo(db),
    scans: new ScanRepo(db),
    quarantine: new QuarantineRepo(db),
    audit: new AuditRepo(db, auditLog, auditKey),
    apiKeys: new ApiKeyRepo(db),
    close: async () => {
      await db.close();
      await auditLog.close();
    },
  };
}
