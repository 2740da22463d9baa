import type { ScanResult } from "../verdict/scan-result.ts";
import type { Tier } from "../verdict/tiers.ts";
import type { SqlExecutor } from "./database.ts";

/** followup: a scan again because VirusTotal could not answer the last one. */
export type ScanType = "upload" | "rescan" | "followup";
/** waiting/active/retrying are open; completed and failed carry a final result. */
export type JobStatus = "waiting" | "active" | "retrying" | "completed" | "failed";
export const OPEN_JOB_STATUSES: readonly JobStatus[] = ["waiting", "active", "retrying"];

/** What a job carries; the file's current place is looked up again when the job runs. */
export interface ScanJobData {
  readonly fileId: string;
  readonly storedPath: string;
  readonly sha256: string;
  readonly tier: Tier;
  readonly userId: string;
  readonly scanType: ScanType;
  /** How many follow-up scans for VirusTotal led to this one. */
  readonly followUps?: number;
}

export interface QueueEntry {
  readonly jobId: string;
  readonly fileId: string;
  readonly status: JobStatus;
  readonly progress: number;
  readonly scanType: ScanType;
  /** The tier whose engines the job runs (a rescan may run at the caller's current tier). */
  readonly tier: Tier;
  readonly attempts: number;
  readonly lastError: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** A row of scan_results, as the API of docs/api.md shows it. */
export interface ScanRecord {
  readonly id: string;
  readonly jobId: string;
  readonly fileId: string;
  readonly scanType: ScanType;
  readonly status: ScanResult["status"];
  readonly threatLevel: ScanResult["threatLevel"];
  readonly scanEngines: string[];
  readonly results: ScanResult;
  readonly createdAt: string;
}

interface QueueRow {
  job_id: string;
  file_id: string;
  status: JobStatus;
  progress: number;
  scan_type: ScanType;
  user_tier: Tier;
  attempts: number;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

interface ResultRow {
  id: string;
  job_id: string;
  file_id: string;
  scan_type: ScanType;
  status: ScanResult["status"];
  threat_level: ScanResult["threatLevel"];
  scan_engines: string;
  results: string;
  created_at: string;
}

const toEntry = (r: QueueRow): QueueEntry => ({
  jobId: r.job_id,
  fileId: r.file_id,
  status: r.status,
  progress: r.progress,
  scanType: r.scan_type,
  tier: r.user_tier,
  attempts: r.attempts,
  lastError: r.last_error,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const toScan = (r: ResultRow): ScanRecord => ({
  id: r.id,
  jobId: r.job_id,
  fileId: r.file_id,
  scanType: r.scan_type,
  status: r.status,
  threatLevel: r.threat_level,
  scanEngines: JSON.parse(r.scan_engines) as string[],
  results: JSON.parse(r.results) as ScanResult,
  createdAt: r.created_at,
});

/** scan_queue_status (one row per job) and scan_results (at most one row per job). */
export class ScanRepo {
  constructor(private readonly db: SqlExecutor) {}

  async enqueue(tx: SqlExecutor, jobId: string, fileId: string, scanType: ScanType, tier: Tier, now: string): Promise<void> {
    await tx.run("INSERT INTO scan_queue_status (job_id, file_id, status, progress, created_at, updated_at, scan_type, user_tier) VALUES (?, ?, 'waiting', 0, ?, ?, ?, ?)", [
      jobId,
      fileId,
      now,
      now,
      scanType,
      tier,
    ]);
  }

  /** An open job that will run again: its attempts and last error; a job with its final result is left as it is. */
  async markRetrying(jobId: string, attempts: number, lastError: string, now: string): Promise<void> {
    await this.db.run(
      `UPDATE scan_queue_status SET status = 'retrying', attempts = ?, last_error = ?, updated_at = ? WHERE job_id = ? AND status IN ('waiting', 'active', 'retrying')`,
      [attempts, lastError, now, jobId],
    );
  }

  async queueEntry(jobId: string): Promise<QueueEntry | undefined> {
    const row = await this.db.get<QueueRow>("SELECT * FROM scan_queue_status WHERE job_id = ?", [jobId]);
    return row && toEntry(row);
  }

  async openJobs(): Promise<QueueEntry[]> {
    const rows = await this.db.all<QueueRow>(`SELECT * FROM scan_queue_status WHERE status IN ('waiting', 'active', 'retrying') ORDER BY created_at`);
    return rows.map(toEntry);
  }

  /**
   * The verdict of one job, written at most once: a job that ran twice (a stalled worker, a
   * timeout that fired late) leaves one row. False when the job already had its row.
   */
  async insertResult(
    tx: SqlExecutor,
    r: { id: string; jobId: string; fileId: string; filePath: string; scanType: ScanType; tier: Tier; result: ScanResult; now: string },
  ): Promise<boolean> {
    const engines = Object.entries(r.result.engines).filter(([, run]) => run.ran).map(([name]) => name);
    const { changes } = await tx.run(
      `INSERT INTO scan_results (id, file_id, file_path, file_hash, scan_type, user_tier, status, threat_level, scan_engines, results, scan_time, created_at, job_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id) DO NOTHING`,
      [r.id, r.fileId, r.filePath, r.result.sha256 ?? "", r.scanType, r.tier, r.result.status, r.result.threatLevel, JSON.stringify(engines), JSON.stringify(r.result), r.result.scanTimeMs, r.now, r.jobId],
    );
    if (changes === 1) {
      await tx.run("UPDATE scan_queue_status SET status = ?, progress = 100, updated_at = ? WHERE job_id = ?", [r.result.status === "error" ? "failed" : "completed", r.now, r.jobId]);
    }
    return changes === 1;
  }

  async hasResult(jobId: string): Promise<boolean> {
    return (await this.db.get("SELECT 1 FROM scan_results WHERE job_id = ?", [jobId])) !== undefined;
  }

  async resultForJob(jobId: string): Promise<ScanRecord | undefined> {
    const row = await this.db.get<ResultRow>("SELECT * FROM scan_results WHERE job_id = ?", [jobId]);
    return row && toScan(row);
  }

  async scansForFile(fileId: string): Promise<ScanRecord[]> {
    const rows = await this.db.all<ResultRow>("SELECT * FROM scan_results WHERE file_id = ? ORDER BY created_at DESC, rowid DESC", [fileId]);
    return rows.map(toScan);
  }

  async latestForFile(fileId: string, db: SqlExecutor = this.db): Promise<ScanRecord | undefined> {
    const row = await db.get<ResultRow>("SELECT * FROM scan_results WHERE file_id = ? ORDER BY created_at DESC, rowid DESC LIMIT 1", [fileId]);
    return row && toScan(row);
  }
}
