import { randomUUID } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Config } from "../config.ts";
import { ConfigError } from "../errors/config-error.ts";
import { AuditLogFile } from "./audit-log-file.ts";
import { ApiKeyRepo } from "./api-key-repo.ts";
import { AuditRepo } from "./audit-repo.ts";
import type { Database } from "./database.ts";
import { FileRepo } from "./file-repo.ts";
import { migrate } from "./migrations.ts";
import { PostgresDatabase } from "./postgres.ts";
import { QuarantineRepo } from "./quarantine-repo.ts";
import { ScanRepo } from "./scan-repo.ts";
import { SqliteDatabase } from "./sqlite.ts";

/** The database (SQLite under DATA_DIR, or PostgreSQL) and its tables, migrated to this build's schema. */
export interface Store {
  readonly db: Database;
  /** The deployment this store is the record of: made once, kept in service_meta. */
  readonly deploymentId: string;
  readonly files: FileRepo;
  readonly scans: ScanRepo;
  readonly quarantine: QuarantineRepo;
  readonly audit: AuditRepo;
  readonly apiKeys: ApiKeyRepo;
  close(): Promise<void>;
}

export const DATABASE_FILE = "scan-daemon.sqlite";
/** In DATA_DIR, with PostgreSQL: the id of the deployment (database) whose files it holds. */
export const DEPLOYMENT_FILE = "deployment-id";

export interface StoreSettings {
  readonly dataDir: string;
  readonly queueName: string;
  readonly logDir: string;
  readonly auditKey?: Buffer;
  /** DATABASE_URL: PostgreSQL instead of SQLite under DATA_DIR. */
  readonly databaseUrl?: string;
  /** HOST_ID: with DATABASE_URL, the name each audit entry of this host carries. */
  readonly hostId?: string;
}

export function storeSettings(config: Pick<Config, "dataDir" | "queue" | "logDir" | "auditKey" | "databaseUrl" | "hostId">): StoreSettings {
  return { dataDir: config.dataDir, queueName: config.queue.name, logDir: config.logDir, auditKey: config.auditKey, databaseUrl: config.databaseUrl, hostId: config.hostId };
}

/**
 * Opens the store for one queue, its audit rows mirrored into LOG_DIR/scan-audit.log. A
 * database belongs to the first queue that used it: the reconciler re-queues whatever the
 * store holds open, so a second queue sharing it would take over the first one's jobs. With
 * PostgreSQL, every host of a deployment shares DATA_DIR too, and DATA_DIR names the database
 * it belongs to, so a second deployment (another database) cannot take it over either.
 */
export async function openStore(settings: StoreSettings): Promise<Store> {
  const { dataDir, queueName, logDir, auditKey, databaseUrl, hostId } = settings;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  let deploymentId: string;
  const db: Database = databaseUrl
    ? await PostgresDatabase.open(databaseUrl, `medical-scan-daemon@${os.hostname()}`)
    : await SqliteDatabase.open(path.join(dataDir, DATABASE_FILE));
  try {
    await migrate(db);
    const owner = await claimOnce(db, "queue_name", queueName);
    if (owner !== queueName) {
      throw new ConfigError([`SCAN_QUEUE_NAME=${JSON.stringify(queueName)}: the store (${databaseUrl ? "DATABASE_URL" : `DATA_DIR ${dataDir}`}) belongs to queue ${JSON.stringify(owner)}; give each queue its own`]);
    }
    deploymentId = (await claimOnce(db, "deployment_id", randomUUID()))!;
    if (databaseUrl) await claimDataDir(dataDir, deploymentId);
  } catch (err) {
    await db.close();
    throw err;
  }
  const auditLog = AuditLogFile.inDir(logDir);
  return {
    db,
    deploymentId,
    files: new FileRepo(db),
    scans: new ScanRepo(db),
    quarantine: new QuarantineRepo(db),
    audit: new AuditRepo(db, auditLog, auditKey, databaseUrl ? hostId : undefined),
    apiKeys: new ApiKeyRepo(db),
    close: async () => {
      await db.close();
      await auditLog.close();
    },
  };
}

/** The value service_meta holds for `key`: `value` if this call set it first. */
async function claimOnce(db: Database, key: string, value: string): Promise<string | undefined> {
  return db.transaction(async (tx) => {
    await tx.run("INSERT INTO service_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", [key, value]);
    return (await tx.get<{ value: string }>("SELECT value FROM service_meta WHERE key = ?", [key]))?.value;
  });
}

async function claimDataDir(dataDir: string, deploymentId: string): Promise<void> {
  const file = path.join(dataDir, DEPLOYMENT_FILE);
  await writeFile(file, `${deploymentId}\n`, { flag: "wx", mode: 0o600 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "EEXIST") throw err;
  });
  const holder = (await readFile(file, "utf8")).trim();
  if (holder !== deploymentId) {
    throw new ConfigError([`DATABASE_URL: DATA_DIR ${dataDir} holds the files of another deployment (${holder}, this database is ${deploymentId}); give each deployment its own DATA_DIR`]);
  }
}
