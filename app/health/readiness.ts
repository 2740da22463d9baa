import { forClients } from "../errors/redact.ts";
import { statfs } from "node:fs/promises";
import type { ClamdClient } from "../engines/clamav/clamd-client.ts";
import { parseVersionReply } from "../engines/clamav/clamd-reply.ts";
import { fingerprintDefinitions, readDefinitions } from "../engines/clamav/definitions.ts";
import { withDeadline, withTimeoutSignal } from "../deadline.ts";
import type { QueueCounts } from "../queue/scan-queue.ts";
import type { Database } from "../store/database.ts";

export interface Check {
  readonly ok: boolean;
  /** One word an operator can alert on: up, down, stale, compiled, writable, low, ... */
  readonly state: string;
  readonly [detail: string]: unknown;
}

export interface Readiness {
  readonly ready: boolean;
  readonly checks: Readonly<Record<"redis" | "clamd" | "yara" | "disk" | "queue", Check> & { sqlite?: Check; postgres?: Check; virustotal?: Check; definitions?: Check }>;
}

export interface ReadinessProbes {
  redisPing(): Promise<string>;
  readonly clamd: ClamdClient;
  /** The scan workers alive now (this process's own engine, or the workers' reports to an intake). */
  workers(): Promise<readonly ScanWorkerSummary[]>;
  readonly db: Database;
  readonly dataDir: string;
  queueCounts(): Promise<QueueCounts>;
  readonly minFreeDiskBytes: number;
  readonly definitionsMaxAgeMs: number;
  /** clamd's database folder, when this process can read it. */
  readonly definitionsDir?: string;
  /** false: the site's own databases only; their age is the newest database file's, since clamd's VERSION names none. */
  readonly officialDatabases: boolean;
}

/** What readiness needs to know of a scan worker. */
export interface ScanWorkerSummary {
  readonly rulesHash: string;
  readonly tenantRuleSets: number;
  /** When VirusTotal is configured: what its last answer said about our access. */
  readonly virustotalState?: string;
}

export interface ClamdStatus {
  readonly up: boolean;
  readonly version: string | null;
  readonly definitionsAgeSeconds: number | null;
  readonly error?: string;
}

const PROBE_MS = 3000;
/** A backlog is reported, not failed: taking the instance out of rotation would only grow it. */
const QUEUE_BACKLOG = 100;

/** clamd PING, then VERSION for the build time of the definitions it has loaded. */
export async function probeClamd(clamd: ClamdClient, now = Date.now()): Promise<ClamdStatus> {
  try {
    const pong = await withTimeoutSignal(PROBE_MS, (signal) => clamd.command("PING", signal));
    if (!pong.startsWith("PONG")) return { up: false, version: null, definitionsAgeSeconds: null, error: "clamd did not answer PONG" };
    const parsed = parseVersionReply(await withTimeoutSignal(PROBE_MS, (signal) => clamd.command("VERSION", signal)));
    const built = parsed?.database ? Date.parse(parsed.database.slice(parsed.database.indexOf("/") + 1)) : NaN;
    return { up: true, version: parsed ? `${parsed.engine}/${parsed.database ?? "-"}` : null, definitionsAgeSeconds: Number.isNaN(built) ? null : Math.max(0, Math.round((now - built) / 1000)) };
  } catch (err) {
    return { up: false, version: null, definitionsAgeSeconds: null, error: forClients((err as Error).message) };
  }
}

/** Every dependency a scan needs, each named with its state; ready only when all are ok. */
export async function checkReadiness(p: ReadinessProbes): Promise<Readiness> {
  const [redis, clamd, database, disk, queue, definitions, workers] = await Promise.all([
    checkRedis(p),
    checkClamd(p),
    checkDatabase(p),
    checkDisk(p),
    checkQueue(p),
    p.definitionsDir ? checkDefinitions(p.definitionsDir) : undefined,
    withDeadline(p.workers(), PROBE_MS, "the workers' reports").catch(() => []),
  ]);
  const worker = workers[0];
  // The rules are compiled by the scan workers: none alive means nothing accepted gets scanned.
  const yara: Check = worker
    ? { ok: true, state: "compiled", rulesHash: worker.rulesHash.slice(0, 16), tenants: worker.tenantRuleSets, workers: workers.length }
    : { ok: false, state: "no-worker" };
  // VirusTotal is advisory: only a key it refuses needs an operator; quota and outages pass.
  const virustotalState = worker?.virustotalState;
  const virustotal: Check | undefined = virustotalState ? { ok: virustotalState !== "wrong-credentials", state: virustotalState } : undefined;
  const checks = { redis, clamd, yara, [p.db.kind]: database, disk, queue, ...(definitions ? { definitions } : {}), ...(virustotal ? { virustotal } : {}) };
  return { ready: Object.values(checks).every((c) => c.ok), checks };
}

/** Runs a probe with a deadline: a dependency that does not answer is down, not waited for. */
async function timed(work: () => Promise<Check>, down: string): Promise<Check> {
  const started = performance.now();
  try {
    const check = await withDeadline(work(), PROBE_MS, "the probe");
    return { ...check, ms: Math.round(performance.now() - started) };
  } catch (err) {
    return { ok: false, state: down, error: forClients((err as Error).message) };
  }
}

function checkRedis(p: ReadinessProbes): Promise<Check> {
  return timed(async () => {
    const reply = await p.redisPing();
    return reply === "PONG" ? { ok: true, state: "up" } : { ok: false, state: "down", error: `answered ${reply}` };
  }, "down");
}

async function checkClamd(p: ReadinessProbes): Promise<Check> {
  const s = await probeClamd(p.clamd);
  if (!s.up) return { ok: false, state: "down", error: s.error };
  const ageSeconds = s.definitionsAgeSeconds ?? (p.officialDatabases ? null : await customDefinitionsAgeSeconds(p.definitionsDir));
  if (ageSeconds === null) return { ok: false, state: p.officialDatabases ? "no-definitions-version" : "no-definitions", version: s.version };
  const stale = ageSeconds * 1000 > p.definitionsMaxAgeMs;
  return { ok: !stale, state: stale ? "stale" : "up", version: s.version, definitionsAgeHours: Math.round(ageSeconds / 360) / 10 };
}

/** The age of the newest database file, or null when the folder is unknown or holds none. */
async function customDefinitionsAgeSeconds(dir: string | undefined, now = Date.now()): Promise<number | null> {
  if (!dir) return null;
  const { newestAt } = await fingerprintDefinitions(dir);
  return newestAt === null ? null : Math.max(0, Math.round((now - newestAt) / 1000));
}

/** The database files themselves: none is not ready; the development set alone is ready, and says so loudly; the site's own (custom) databases are ready. */
function checkDefinitions(dir: string): Promise<Check> {
  return timed(async () => {
    const d = await readDefinitions(dir);
    if (d.names.length === 0) return { ok: false, state: "missing", dir };
    if (d.testOnly) return { ok: true, state: "test-definitions-only", files: d.names.length, warning: "test definitions only: they detect test files, not malware; production needs freshclam's official databases" };
    return { ok: true, state: d.official ? "official" : "custom", files: d.names.length };
  }, "unreadable");
}

/** A real write to the store's database, named after it (sqlite or postgres). */
function checkDatabase(p: ReadinessProbes): Promise<Check> {
  return timed(async () => {
    await p.db.run("INSERT INTO service_meta (key, value) VALUES ('ready_probe', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [new Date().toISOString()]);
    return { ok: true, state: "writable" };
  }, "not-writable");
}

function checkDisk(p: ReadinessProbes): Promise<Check> {
  return timed(async () => {
    const s = await statfs(p.dataDir);
    const freeBytes = s.bavail * s.bsize;
    return { ok: freeBytes >= p.minFreeDiskBytes, state: freeBytes >= p.minFreeDiskBytes ? "ok" : "low", freeBytes, minFreeBytes: p.minFreeDiskBytes };
  }, "unknown");
}

function checkQueue(p: ReadinessProbes): Promise<Check> {
  return timed(async () => {
    const c = await p.queueCounts();
    return { ok: true, state: c.waiting > QUEUE_BACKLOG ? "backlog" : "ok", waiting: c.waiting, active: c.active, delayed: c.delayed, failed: c.failed };
  }, "unknown");
}
