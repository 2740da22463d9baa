import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { loadConfig } from "../../app/config.ts";
import { MedicalFileScanDaemon } from "../../app/daemon.ts";
import type { ScanEvent } from "../../app/events/event-bus.ts";
import { createLogger } from "../../app/log.ts";
import type { Database } from "../../app/store/database.ts";
import { PostgresDatabase } from "../../app/store/postgres.ts";
import { SqliteDatabase } from "../../app/store/sqlite.ts";
import { DATABASE_FILE } from "../../app/store/store.ts";
import { ClamdInstance, ROOT } from "./clamd.ts";
import { PostgresInstance } from "./postgres.ts";
import { terminate } from "./processes.ts";
import { RedisInstance } from "./redis.ts";

/**
 * MSD_TEST_DATABASE=postgres runs a suite's stacks on PostgreSQL (a server of their own, a
 * database per stack and per scenario) instead of SQLite under DATA_DIR: `npm test` runs the
 * service suite both ways, so the two stores cannot drift.
 */
export const TEST_DATABASE = process.env.MSD_TEST_DATABASE === "postgres" ? "postgres" : "sqlite";
/** The database the suites run on, as their titles name it. */
export const TEST_DATABASE_NAME = TEST_DATABASE === "postgres" ? "PostgreSQL" : "SQLite";

/** Short timings so that retries, stalls and locks play out within a test. */
export const FAST_QUEUE_ENV: Readonly<Record<string, string>> = {
  CLAMAV_TIMEOUT_MS: "4000",
  VALIDATION_TIMEOUT_MS: "20000",
  YARA_TIMEOUT_MS: "20000",
  ANALYSIS_TIMEOUT_MS: "20000",
  SCAN_JOB_TIMEOUT_MS: "30000",
  SCAN_LOCK_DURATION_MS: "35000",
  SCAN_STALLED_INTERVAL_MS: "1000",
  SCAN_RETRY_DELAY_MS: "500",
  SCAN_JOB_ATTEMPTS: "3",
  RECONCILE_INTERVAL_MS: "2000",
  AUTH_FAILURE_AUDIT_INTERVAL_MS: "200",
};

export interface ServiceStack {
  readonly clamd: ClamdInstance;
  readonly redis: RedisInstance;
  /** With MSD_TEST_DATABASE=postgres. */
  readonly postgres?: PostgresInstance;
  readonly dir: string;
  /** The environment a daemon of this stack runs with (also for child processes). */
  readonly env: Record<string, string>;
  /** Writes bytes to a fresh file outside the service's folders and returns its path. */
  file(name: string, data: Buffer): Promise<string>;
  /** A queue with its own DATA_DIR and QUARANTINE_DIR (and database) on this stack, for a scenario kept apart. */
  scenario(name: string): Promise<Record<string, string>>;
  /** A daemon on this stack, initialised; closed by `close()`. */
  daemon(options?: { worker?: boolean; env?: Record<string, string> }): Promise<MedicalFileScanDaemon>;
  /** `scan-daemon start` in a child process; resolves once it logged that it started. */
  spawnWorker(env?: Record<string, string>): Promise<ChildProcess>;
  close(): Promise<void>;
}

/** A real clamd and a real Redis (AOF on), and a private DATA_DIR, QUARANTINE_DIR and queue. */
export async function startServiceStack(env: Record<string, string> = {}): Promise<ServiceStack> {
  const [clamd, redis, postgres] = await Promise.all([ClamdInstance.start(), RedisInstance.start(), TEST_DATABASE === "postgres" ? PostgresInstance.start() : undefined]);
  const dir = await mkdtemp(path.join(os.tmpdir(), "msd-service-"));
  const database = async (name: string): Promise<Record<string, string>> => (postgres ? { DATABASE_URL: await postgres.database(name) } : {});
  const stackEnv: Record<string, string> = {
    ...(await database("stack")),
    ...clamd.env(),
    ...FAST_QUEUE_ENV,
    REDIS_URL: redis.url,
    DATA_DIR: path.join(dir, "data"),
    QUARANTINE_DIR: path.join(dir, "quarantine"),
    SCAN_TMP_DIR: path.join(dir, "tmp"),
    LOG_DIR: path.join(dir, "logs"),
    PORT: "0",
    SCAN_DAEMON_WS_PORT: "0",
    SCAN_QUEUE_NAME: `test-${randomUUID().slice(0, 8)}`,
    ...env,
  };
  const daemons: MedicalFileScanDaemon[] = [];
  const children: ChildProcess[] = [];
  let seq = 0;
  return {
    clamd,
    redis,
    postgres,
    dir,
    env: stackEnv,
    async scenario(name) {
      return {
        ...(await database(`scenario_${name}`)),
        SCAN_QUEUE_NAME: `${stackEnv.SCAN_QUEUE_NAME}-${name}`,
        DATA_DIR: path.join(dir, name, "data"),
        QUARANTINE_DIR: path.join(dir, name, "quarantine"),
        LOG_DIR: path.join(dir, name, "logs"),
      };
    },
    async file(name, data) {
      const sub = path.join(dir, "inbox", String(++seq));
      await mkdir(sub, { recursive: true });
      const p = path.join(sub, name);
      await writeFile(p, data);
      return p;
    },
    async daemon(options = {}) {
      const daemon = new MedicalFileScanDaemon(loadConfig({ ...stackEnv, ...options.env }), { worker: options.worker, log: createLogger("silent") });
      await daemon.initialize();
      daemons.push(daemon);
      return daemon;
    },
    async spawnWorker(extra = {}) {
      const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "app/scan-daemon.ts"), "start"], {
        env: { ...process.env, ...stackEnv, ...extra },
        stdio: ["ignore", "pipe", "pipe"],
      });
      children.push(child);
      let output = "";
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`worker did not start: ${output}`)), 60_000);
        child.stdout!.on("data", (d: Buffer) => {
          output += d.toString();
          if (output.includes('"daemon started"')) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
        child.once("exit", (code) => {
          clearTimeout(timer);
          reject(new Error(`worker exited with ${code}: ${output}`));
        });
      });
      return child;
    },
    async close() {
      await Promise.all(children.map((child) => terminate(child, "SIGKILL")));
      for (const d of daemons) await d.close();
      await Promise.all([clamd.destroy(), redis.destroy(), postgres?.destroy()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The database a daemon with `env` uses, opened beside it (to tamper with, or to look into). */
export function openDatabase(env: Record<string, string | undefined>): Promise<Database> {
  return env.DATABASE_URL ? PostgresDatabase.open(env.DATABASE_URL) : SqliteDatabase.open(path.join(env.DATA_DIR!, DATABASE_FILE));
}

/** Collects every event of one type the daemon hears. */
export function recordEvents<T extends ScanEvent["type"]>(daemon: MedicalFileScanDaemon, type: T): Extract<ScanEvent, { type: T }>[] {
  const seen: Extract<ScanEvent, { type: T }>[] = [];
  daemon.on(type, ((e: Extract<ScanEvent, { type: T }>) => seen.push(e)) as never);
  return seen;
}

/** Polls `check` until it returns a value, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
