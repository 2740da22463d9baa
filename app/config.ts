import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { ConfigError } from "./errors/config-error.ts";
import { FILE_KINDS, type FileKind } from "./validation/file-kinds.ts";

const moduleDir = path.dirname(fileURLToPath(import.meta.url));
// Source runs from app/, the build from dist/app/: the rules live beside either at the package root.
const packageRoot = path.resolve(moduleDir, path.basename(path.dirname(moduleDir)) === "dist" ? "../.." : "..");
const MiB = 1024 * 1024;

const int = (min: number, fallback: number) => z.coerce.number().int().min(min).default(fallback);
const bool = (fallback: boolean) =>
  z
    .enum(["true", "false", "1", "0", "yes", "no"])
    .default(fallback ? "true" : "false")
    .transform((v) => v === "true" || v === "1" || v === "yes");

const envSchema = z.object({
  CLAMAV_HOST: z.string().min(1).default("127.0.0.1"),
  CLAMAV_PORT: int(1, 3310).pipe(z.number().max(65535)),
  CLAMAV_TIMEOUT_MS: int(100, 150_000),
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
  RESULT_CACHE_MAX_ENTRIES: int(0, 10_000),
  RESULT_CACHE_TTL_SECONDS: int(1, 3600),
});

export interface ScanLimits {
  readonly archiveMaxEntries: number;
  readonly archiveMaxEntryBytes: number;
  readonly archiveMaxTotalBytes: number;
  readonly archiveMaxRatio: number;
  readonly archiveMaxDepth: number;
  readonly dicomMaxInflatedBytes: number;
  readonly dicomMaxDepth: number;
}

export interface Config {
  readonly clamav: {
    readonly enabled: boolean;
    readonly host: string;
    readonly port: number;
    readonly timeoutMs: number;
  };
  readonly yara: { readonly rulesDir: string; readonly customRulesDir?: string; readonly timeoutMs: number };
  readonly timeouts: { readonly validationMs: number; readonly analysisMs: number };
  readonly tmpDir: string;
  readonly allowedFileTypes: readonly FileKind[];
  readonly limits: ScanLimits;
  readonly resultCache: { readonly maxEntries: number; readonly ttlMs: number };
}

/** Reads the environment once; every invalid variable is named in one ConfigError. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join(".")}=${JSON.stringify(env[String(issue.path[0])] ?? "")}: ${issue.message}`),
    );
  }
  const e = parsed.data;
  return {
    clamav: {
      enabled: e.VIRUS_SCANNING_ENABLED,
      host: e.CLAMAV_HOST,
      port: e.CLAMAV_PORT,
      timeoutMs: e.CLAMAV_TIMEOUT_MS,
    },
    yara: { rulesDir: e.YARA_RULES_DIR, customRulesDir: e.YARA_CUSTOM_RULES_DIR, timeoutMs: e.YARA_TIMEOUT_MS },
    timeouts: { validationMs: e.VALIDATION_TIMEOUT_MS, analysisMs: e.ANALYSIS_TIMEOUT_MS },
    tmpDir: e.SCAN_TMP_DIR,
    allowedFileTypes: e.ALLOWED_FILE_TYPES,
    limits: {
      archiveMaxEntries: e.ARCHIVE_MAX_ENTRIES,
      archiveMaxEntryBytes: e.ARCHIVE_MAX_ENTRY_BYTES,
      archiveMaxTotalBytes: e.ARCHIVE_MAX_TOTAL_BYTES,
      archiveMaxRatio: e.ARCHIVE_MAX_RATIO,
      archiveMaxDepth: e.ARCHIVE_MAX_DEPTH,
      dicomMaxInflatedBytes: e.DICOM_MAX_INFLATED_BYTES,
      dicomMaxDepth: e.DICOM_MAX_DEPTH,
    },
    resultCache: { maxEntries: e.RESULT_CACHE_MAX_ENTRIES, ttlMs: e.RESULT_CACHE_TTL_SECONDS * 1000 },
  };
}
