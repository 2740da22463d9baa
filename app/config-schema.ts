import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { packageRoot } from "./package-root.ts";
import { FILE_KINDS } from "./verdict/file-kind.ts";
import { DEFAULT_TIER_LIMITS, MiB, TIERS, type Tier } from "./verdict/tiers.ts";

/** This machine, as a host name or as a URL's hostname (IPv6 in brackets there). */
export const LOOPBACK: ReadonlySet<string> = new Set(["localhost", "127.0.0.1", "::1", "[::1]"]);
const int = (min: number, fallback: number) => z.coerce.number().int().min(min).default(fallback);
const bool = (fallback: boolean) =>
  z
    .enum(["true", "false", "1", "0", "yes", "no"])
    .default(fallback ? "true" : "false")
    .transform((v) => v === "true" || v === "1" || v === "yes");

/** Every environment variable the service reads, with its bounds and default; docs/configuration.md names each. */
export const envSchema = z.object({
  CLAMAV_HOST: z.string().min(1).default("127.0.0.1"),
  CLAMAV_PORT: int(1, 3310).pipe(z.number().max(65535)),
  CLAMAV_TIMEOUT_MS: int(100, 150_000),
  CLAMAV_SCAN_MODE: z.enum(["path", "stream"]).optional(),
  CLAMAV_DB_DIR: z.string().min(1).optional(),
  CLAMAV_OFFICIAL_DATABASES: bool(true),
  VIRUS_SCANNING_ENABLED: bool(true),
  YARA_RULES_DIR: z.string().min(1).default(path.join(packageRoot, "rules", "yara")),
  YARA_CUSTOM_RULES_DIR: z.string().min(1).optional(),
  YARA_TIMEOUT_MS: int(100, 60_000),
  ANALYSIS_TIMEOUT_MS: int(100, 120_000),
  VALIDATION_TIMEOUT_MS: int(100, 120_000),
  SCAN_TMP_DIR: z.string().min(1).default(path.join(os.tmpdir(), "medical-scan-daemon")),
  ALLOWED_FILE_TYPES: z
    .string()
    .default(FILE_KINDS.join(","))
    .transform((v) => v.split(",").map((s) => s.trim()).filter(Boolean))
    .pipe(z.array(z.enum(FILE_KINDS)).min(1)),
  ARCHIVE_MAX_ENTRIES: int(1, 10_000),
  ARCHIVE_MAX_ENTRY_BYTES: int(1, 512 * MiB),
  ARCHIVE_MAX_TOTAL_BYTES: int(1, 1024 * MiB),
  ARCHIVE_MAX_RATIO: int(2, 100),
  ARCHIVE_MAX_DEPTH: int(0, 2),
  DICOM_MAX_INFLATED_BYTES: int(1, 512 * MiB),
  DICOM_MAX_DEPTH: int(1, 32),
  JSON_MAX_DEPTH: int(8, 100),
  RESULT_CACHE_MAX_ENTRIES: int(0, 10_000),
  RESULT_CACHE_TTL_SECONDS: int(1, 3600),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, "must start with redis:// or rediss://").optional(),
  REDIS_HOST: z.string().min(1).default("127.0.0.1"),
  REDIS_PORT: int(1, 6379).pipe(z.number().max(65535)),
  REDIS_PASSWORD: z.string().optional(),
  HOST_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, "must be 1 to 64 letters, digits, dots, dashes or underscores")
    .default(() => os.hostname().replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 64) || "host"),
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\/./, "must start with postgres:// or postgresql://").optional(),
  /** The native appliance's state folder; DATA_DIR, QUARANTINE_DIR and LOG_DIR default to folders in it. */
  APPLIANCE_HOME: z.string().min(1).default("var"),
  DATA_DIR: z.string().min(1).optional(),
  QUARANTINE_DIR: z.string().min(1).optional(),
  QUARANTINE_ENCRYPTION_KEY: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, "must be 64 hex characters (a 256-bit AES key)")
    .optional(),
  QUARANTINE_RETENTION_DAYS: int(1, 30),
  FILE_RETENTION_DAYS: int(0, 30),
  SCAN_QUEUE_NAME: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "letters, digits, _ and - only").default("medical-scans"),
  SCAN_WORKER_CONCURRENCY: int(1, 8),
  SCAN_ENGINE_THREADS: int(0, 0),
  SCAN_JOB_ATTEMPTS: int(1, 5),
  SCAN_RETRY_DELAY_MS: int(100, 5000),
  SCAN_JOB_TIMEOUT_MS: int(1000, 0),
  SCAN_LOCK_DURATION_MS: int(1000, 0),
  SCAN_STALLED_INTERVAL_MS: int(500, 30_000),
  SCAN_MAX_STALLED_COUNT: int(0, 1),
  RECONCILE_INTERVAL_MS: int(1000, 60_000),
  AUTH_FAILURE_AUDIT_INTERVAL_MS: int(100, 60_000),
  AUDIT_HMAC_KEY: z.string().min(32, "at least 32 characters (e.g. openssl rand -hex 32)").optional(),
  HOST: z.string().min(1).default("0.0.0.0"),
  PORT: int(0, 3000).pipe(z.number().max(65535)),
  SCAN_DAEMON_WS_PORT: int(0, 8081).pipe(z.number().max(65535)),
  LOG_DIR: z.string().min(1).optional(),
  WS_HEARTBEAT_MS: int(100, 30_000),
  API_REQUEST_TIMEOUT_MS: int(100, 30_000),
  API_HEADERS_TIMEOUT_MS: int(100, 20_000),
  API_MAX_CONNECTIONS: int(1, 1024),
  WS_MAX_BUFFERED_BYTES: int(1024, 1024 * 1024),
  MIN_FREE_DISK_MB: int(0, 1024),
  CLAMAV_DEFINITIONS_MAX_AGE_HOURS: int(1, 72),
  VIRUSTOTAL_API_KEY: z.string().min(1).optional(),
  VIRUSTOTAL_API_URL: z
    .string()
    .url()
    .refine((u) => new URL(u).protocol === "https:" || LOOPBACK.has(new URL(u).hostname), "must be https (plain http only to this machine, for a test server)")
    .default("https://www.virustotal.com/api/v3"),
  VIRUSTOTAL_TIMEOUT_MS: int(100, 10_000),
  VIRUSTOTAL_REQUESTS_PER_MINUTE: int(1, 4),
  VIRUSTOTAL_REQUESTS_PER_DAY: int(1, 500),
  VIRUSTOTAL_TENANT_SHARE_PERCENT: int(1, 25).pipe(z.number().max(100)),
  VIRUSTOTAL_REQUIRED: bool(false),
  VIRUSTOTAL_CACHE_TTL_SECONDS: int(1, 86_400),
  VIRUSTOTAL_INFECTED_THRESHOLD: int(1, 3),
  VIRUSTOTAL_SUSPICIOUS_THRESHOLD: int(1, 1),
  VIRUSTOTAL_FOLLOWUP_DELAY_MS: int(100, 15 * 60_000),
  VIRUSTOTAL_MAX_FOLLOWUPS: int(0, 3),
  VIRUSTOTAL_UPLOAD_ENABLED: bool(false),
  VIRUSTOTAL_UPLOAD_TIMEOUT_MS: int(1000, 120_000),
  ...tierLimitVariables(),
});

/** TIER_<TIER>_MAX_FILE_MB and TIER_<TIER>_FILES_PER_DAY for every tier, defaulting to docs/tiers.md. */
function tierLimitVariables() {
  return Object.fromEntries(
    TIERS.flatMap((tier) => [
      [`TIER_${tier.toUpperCase()}_MAX_FILE_MB`, int(1, DEFAULT_TIER_LIMITS[tier].maxFileBytes / MiB)],
      [`TIER_${tier.toUpperCase()}_FILES_PER_DAY`, int(1, DEFAULT_TIER_LIMITS[tier].filesPerDay)],
    ]),
  ) as Record<`TIER_${Uppercase<Tier>}_${"MAX_FILE_MB" | "FILES_PER_DAY"}`, ReturnType<typeof int>>;
}
