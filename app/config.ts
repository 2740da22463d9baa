import path from "node:path";
import { envSchema, LOOPBACK } from "./config-schema.ts";
import { ConfigError } from "./errors/config-error.ts";
import { showSetting } from "./errors/redact.ts";
import type { FileKind } from "./verdict/file-kind.ts";
import { MiB, TIERS, type Tier, type TierLimits } from "./verdict/tiers.ts";

export interface ScanLimits {
  readonly archiveMaxEntries: number;
  readonly archiveMaxEntryBytes: number;
  readonly archiveMaxTotalBytes: number;
  readonly archiveMaxRatio: number;
  readonly archiveMaxDepth: number;
  readonly dicomMaxInflatedBytes: number;
  readonly dicomMaxDepth: number;
  readonly jsonMaxDepth: number;
}

export interface Config {
  readonly clamav: {
    readonly enabled: boolean;
    readonly host: string;
    readonly port: number;
    readonly timeoutMs: number;
    /** clamd's database folder, when this process shares clamd's filesystem (the appliance). */
    readonly dbDir?: string;
    /** false: only the site's own databases (DatabaseCustomURL, dropped files), which carry no version clamd reports. */
    readonly officialDatabases: boolean;
    /** path: clamd reads stored files itself (it shares this filesystem); stream: every file is sent with INSTREAM. */
    readonly scanMode: "path" | "stream";
  };
  readonly yara: { readonly rulesDir: string; readonly customRulesDir?: string; readonly timeoutMs: number };
  readonly timeouts: { readonly validationMs: number; readonly analysisMs: number };
  readonly tmpDir: string;
  /**
   * Worker threads for validation, YARA-X and analysis, one per job in flight: each thread
   * loads the rules when it starts, and twice as many cost the worker 100 MB and seconds of
   * start-up (the CLI's too) for no more files/s on two cores.
   */
  readonly engineThreads: number;
  readonly allowedFileTypes: readonly FileKind[];
  readonly limits: ScanLimits;
  /** Each tier's size and daily limits. */
  readonly tiers: Readonly<Record<Tier, TierLimits>>;
  readonly resultCache: { readonly maxEntries: number; readonly ttlMs: number };
  readonly redis: { readonly url: string };
  /** How often failed authentications are written to the audit trail, as counted summaries. */
  readonly authFailureFlushMs: number;
  /** AUDIT_HMAC_KEY: the audit chain is then HMAC-SHA256, which needs the key to recompute. */
  readonly auditKey?: Buffer;
  readonly dataDir: string;
  /** DATABASE_URL: the deployment's PostgreSQL; absent, SQLite under DATA_DIR. */
  readonly databaseUrl?: string;
  /** HOST_ID: this host's name in a deployment (its audit entries, its log lines). */
  readonly hostId: string;
  readonly quarantine: { readonly dir: string; readonly encryptionKey?: Buffer; readonly retentionDays: number };
  /** Days a clean file is kept for downloads and rescans; 0 keeps it until deleted. */
  readonly fileRetentionDays: number;
  readonly queue: QueueSettings;
  readonly logDir: string;
  readonly api: ApiSettings;
  readonly health: { readonly minFreeDiskBytes: number; readonly definitionsMaxAgeMs: number };
  /** VIRUSTOTAL_REQUIRED: a gold or enterprise file is not served until VirusTotal has answered for it. */
  readonly virusTotalRequired: boolean;
  /** Absent without VIRUSTOTAL_API_KEY: gold and enterprise results then record it as not configured. */
  readonly virustotal?: VirusTotalConfig;
}

export interface VirusTotalConfig {
  readonly baseUrl: string;
  readonly apiKey: string;
  readonly timeoutMs: number;
  readonly perMinute: number;
  readonly perDay: number;
  /** The part of each quota window one tenant may use. */
  readonly tenantShare: number;
  readonly cacheTtlSeconds: number;
  readonly thresholds: { readonly infected: number; readonly suspicious: number };
  /**
   * A lookup VirusTotal could not answer is tried again in a follow-up scan, at most
   * `maxFollowUps` times: `followUpDelayMs` later, then twice that, and so on.
   */
  readonly followUpDelayMs: number;
  readonly maxFollowUps: number;
  /** Programs unknown by hash are uploaded (never anything that may hold patient data). Off by default. */
  readonly uploadEnabled: boolean;
  readonly uploadTimeoutMs: number;
}

export interface ApiSettings {
  readonly host: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  /** A second listener for WebSocket clients only; 0 picks a free port. */
  readonly wsPort: number;
  readonly heartbeatMs: number;
  /** A WebSocket client with more than this waiting to be sent is too slow and is dropped. */
  readonly wsMaxBufferedBytes: number;
  /** Time to send a whole request on every route but the upload (which has 20 minutes). */
  readonly requestTimeoutMs: number;
  /** Time to send the request headers, on every route. */
  readonly headersTimeoutMs: number;
  /** Connections open at once per listener; more are closed at once. */
  readonly maxConnections: number;
}

export interface QueueSettings {
  readonly name: string;
  /**
   * Jobs a worker runs at once: twice clamd's MaxThreads by default. A small file's job spends
   * most of its time outside clamd (validation in a thread, the verdict's commit, Redis), so
   * with only as many jobs as clamd has threads those stages took turns instead of overlapping.
   */
  readonly concurrency: number;
  readonly attempts: number;
  /** First retry delay; each further retry doubles it. */
  readonly retryDelayMs: number;
  readonly jobTimeoutMs: number;
  readonly lockDurationMs: number;
  readonly stalledIntervalMs: number;
  readonly maxStalledCount: number;
  readonly reconcileIntervalMs: number;
}

/**
 * Reads the environment once; every invalid variable is named in one ConfigError. An empty
 * variable counts as unset, as docker-compose's `${NAME:-}` passes one.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== "")));
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join(".")}=${showSetting(String(issue.path[0]), env[String(issue.path[0])])}: ${issue.message}`),
    );
  }
  const e = parsed.data;
  // The job timeout must outlast the slowest scan the engines' own timeouts allow (validation,
  // then the rest side by side), and the lock must outlast the job, or a slow scan would be
  // taken for a dead worker's and run twice.
  const slowestScanMs = e.VALIDATION_TIMEOUT_MS + Math.max(e.CLAMAV_TIMEOUT_MS + 1000, e.YARA_TIMEOUT_MS, e.ANALYSIS_TIMEOUT_MS);
  const jobTimeoutMs = e.SCAN_JOB_TIMEOUT_MS || slowestScanMs + 10_000;
  const lockDurationMs = e.SCAN_LOCK_DURATION_MS || jobTimeoutMs + 30_000;
  const problems: string[] = [];
  if (jobTimeoutMs <= e.CLAMAV_TIMEOUT_MS) problems.push(`SCAN_JOB_TIMEOUT_MS=${jobTimeoutMs}: must be above CLAMAV_TIMEOUT_MS (${e.CLAMAV_TIMEOUT_MS})`);
  if (lockDurationMs <= jobTimeoutMs) problems.push(`SCAN_LOCK_DURATION_MS=${lockDurationMs}: must be above the job timeout (${jobTimeoutMs})`);
  if (e.PORT !== 0 && e.PORT === e.SCAN_DAEMON_WS_PORT) problems.push(`SCAN_DAEMON_WS_PORT=${e.SCAN_DAEMON_WS_PORT}: must differ from PORT (WebSockets are also served at /ws on PORT)`);
  if (problems.length > 0) throw new ConfigError(problems);
  // As scripts/appliance-env.sh derives them, so the CLI finds a running appliance's state.
  const inHome = (set: string | undefined, folder: string) => path.resolve(set ?? path.join(e.APPLIANCE_HOME, folder));
  return {
    clamav: {
      enabled: e.VIRUS_SCANNING_ENABLED,
      host: e.CLAMAV_HOST,
      port: e.CLAMAV_PORT,
      timeoutMs: e.CLAMAV_TIMEOUT_MS,
      dbDir: e.CLAMAV_DB_DIR ? path.resolve(e.CLAMAV_DB_DIR) : undefined,
      officialDatabases: e.CLAMAV_OFFICIAL_DATABASES,
      scanMode: e.CLAMAV_SCAN_MODE ?? (LOOPBACK.has(e.CLAMAV_HOST) ? "path" : "stream"),
    },
    yara: { rulesDir: e.YARA_RULES_DIR, customRulesDir: e.YARA_CUSTOM_RULES_DIR, timeoutMs: e.YARA_TIMEOUT_MS },
    timeouts: { validationMs: e.VALIDATION_TIMEOUT_MS, analysisMs: e.ANALYSIS_TIMEOUT_MS },
    tmpDir: e.SCAN_TMP_DIR,
    authFailureFlushMs: e.AUTH_FAILURE_AUDIT_INTERVAL_MS,
    virusTotalRequired: e.VIRUSTOTAL_REQUIRED,
    auditKey: e.AUDIT_HMAC_KEY ? Buffer.from(e.AUDIT_HMAC_KEY, "utf8") : undefined,
    engineThreads: e.SCAN_ENGINE_THREADS || e.SCAN_WORKER_CONCURRENCY,
    allowedFileTypes: e.ALLOWED_FILE_TYPES,
    limits: {
      archiveMaxEntries: e.ARCHIVE_MAX_ENTRIES,
      archiveMaxEntryBytes: e.ARCHIVE_MAX_ENTRY_BYTES,
      archiveMaxTotalBytes: e.ARCHIVE_MAX_TOTAL_BYTES,
      archiveMaxRatio: e.ARCHIVE_MAX_RATIO,
      archiveMaxDepth: e.ARCHIVE_MAX_DEPTH,
      dicomMaxInflatedBytes: e.DICOM_MAX_INFLATED_BYTES,
      dicomMaxDepth: e.DICOM_MAX_DEPTH,
      jsonMaxDepth: e.JSON_MAX_DEPTH,
    },
    tiers: Object.fromEntries(
      TIERS.map((tier) => {
        const name = tier.toUpperCase() as Uppercase<Tier>;
        return [tier, { maxFileBytes: e[`TIER_${name}_MAX_FILE_MB`] * MiB, filesPerDay: e[`TIER_${name}_FILES_PER_DAY`] }];
      }),
    ) as Record<Tier, TierLimits>,
    resultCache: { maxEntries: e.RESULT_CACHE_MAX_ENTRIES, ttlMs: e.RESULT_CACHE_TTL_SECONDS * 1000 },
    redis: { url: e.REDIS_URL ?? redisUrl(e.REDIS_HOST, e.REDIS_PORT, e.REDIS_PASSWORD) },
    dataDir: inHome(e.DATA_DIR, "data"),
    databaseUrl: e.DATABASE_URL,
    hostId: e.HOST_ID,
    quarantine: {
      dir: inHome(e.QUARANTINE_DIR, "quarantine"),
      encryptionKey: e.QUARANTINE_ENCRYPTION_KEY ? Buffer.from(e.QUARANTINE_ENCRYPTION_KEY, "hex") : undefined,
      retentionDays: e.QUARANTINE_RETENTION_DAYS,
    },
    fileRetentionDays: e.FILE_RETENTION_DAYS,
    queue: {
      name: e.SCAN_QUEUE_NAME,
      concurrency: e.SCAN_WORKER_CONCURRENCY,
      attempts: e.SCAN_JOB_ATTEMPTS,
      retryDelayMs: e.SCAN_RETRY_DELAY_MS,
      jobTimeoutMs,
      lockDurationMs,
      stalledIntervalMs: e.SCAN_STALLED_INTERVAL_MS,
      maxStalledCount: e.SCAN_MAX_STALLED_COUNT,
      reconcileIntervalMs: e.RECONCILE_INTERVAL_MS,
    },
    logDir: inHome(e.LOG_DIR, "logs"),
    api: {
      host: e.HOST,
      port: e.PORT,
      wsPort: e.SCAN_DAEMON_WS_PORT,
      heartbeatMs: e.WS_HEARTBEAT_MS,
      wsMaxBufferedBytes: e.WS_MAX_BUFFERED_BYTES,
      requestTimeoutMs: e.API_REQUEST_TIMEOUT_MS,
      headersTimeoutMs: e.API_HEADERS_TIMEOUT_MS,
      maxConnections: e.API_MAX_CONNECTIONS,
    },
    health: { minFreeDiskBytes: e.MIN_FREE_DISK_MB * 1024 * 1024, definitionsMaxAgeMs: e.CLAMAV_DEFINITIONS_MAX_AGE_HOURS * 3_600_000 },
    virustotal: e.VIRUSTOTAL_API_KEY
      ? {
          baseUrl: e.VIRUSTOTAL_API_URL,
          apiKey: e.VIRUSTOTAL_API_KEY,
          timeoutMs: e.VIRUSTOTAL_TIMEOUT_MS,
          perMinute: e.VIRUSTOTAL_REQUESTS_PER_MINUTE,
          perDay: e.VIRUSTOTAL_REQUESTS_PER_DAY,
          tenantShare: e.VIRUSTOTAL_TENANT_SHARE_PERCENT / 100,
          cacheTtlSeconds: e.VIRUSTOTAL_CACHE_TTL_SECONDS,
          thresholds: { infected: e.VIRUSTOTAL_INFECTED_THRESHOLD, suspicious: e.VIRUSTOTAL_SUSPICIOUS_THRESHOLD },
          followUpDelayMs: e.VIRUSTOTAL_FOLLOWUP_DELAY_MS,
          maxFollowUps: e.VIRUSTOTAL_MAX_FOLLOWUPS,
          uploadEnabled: e.VIRUSTOTAL_UPLOAD_ENABLED,
          uploadTimeoutMs: e.VIRUSTOTAL_UPLOAD_TIMEOUT_MS,
        }
      : undefined,
  };
}

function redisUrl(host: string, port: number, password?: string): string {
  const auth = password ? `:${encodeURIComponent(password)}@` : "";
  return `redis://${auth}${host.includes(":") ? `[${host}]` : host}:${port}`;
}
