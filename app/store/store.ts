import { mkdir } from "node:fs/promises";
import path from "node:path";
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
  close(): Promise<void>;
}

export const DATABASE_FILE = "scan-daemon.sqlite";

export async function openStore(dataDir: string): Promise<Store> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const db = await SqliteDatabase.open(path.join(dataDir, DATABASE_FILE));
  try {
    await migrate(db);
  } catch (err) {
    await db.close();
    throw err;
  }
  return {
    db,
    files: new FileRepo(db),
    scans: new ScanRepo(db),
    quarantine: new QuarantineRepo(db),
    audit: new AuditRepo(),
    close: () => db.close(),
  };
}
