import { parseArgs } from "node:util";
import { loadConfig } from "../config.ts";
import { MedicalFileScanDaemon } from "../daemon.ts";
import { createLogger, logLevelFrom } from "../log.ts";
import { startScanService, type ServiceRole } from "../service/scan-service.ts";

type Out = (line: string) => void;

const ROLES: readonly ServiceRole[] = ["all", "intake", "worker"];

/**
 * `scan-daemon start [--role all|intake|worker]`: in the foreground until SIGTERM/SIGINT, the
 * API and intake, the scan worker with reconciler and housekeeping, or both (the default).
 */
export async function startCommand(args: string[], out: Out, err: Out): Promise<number> {
  const { values } = parseArgs({ args, options: { role: { type: "string", default: "all" } } });
  const role = values.role as ServiceRole;
  if (!ROLES.includes(role)) {
    err(`usage: scan-daemon start [--role ${ROLES.join("|")}]`);
    return 2;
  }
  const config = loadConfig();
  const log = createLogger(logLevelFrom(process.env), config.logDir).child({ role });
  const service = await startScanService(config, log, role);
  log.info({ pid: process.pid, queue: config.queue.name, concurrency: role === "intake" ? 0 : config.queue.concurrency, port: service.api?.port, wsPort: service.api?.wsPort }, "daemon started");
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  log.info({ signal }, "stopping: waiting for running scans");
  await service.close();
  out("stopped");
  return 0;
}

/** What the queue and quarantine commands use of the daemon. */
type CommandParts = Pick<MedicalFileScanDaemon, "failedJobs" | "redrive" | "queueCounts" | "quarantine" | "config">;

/** Commands that act on the service's state through a daemon that does not scan. */
async function withDaemon<T>(work: (daemon: CommandParts) => Promise<T>): Promise<T> {
  const daemon = new MedicalFileScanDaemon(loadConfig(), { worker: false, log: createLogger("warn") });
  await daemon.initialize();
  try {
    return await work(daemon);
  } finally {
    await daemon.close();
  }
}

export async function queueCommand(args: string[], out: Out, err: Out): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { all: { type: "boolean", default: false } } });
  const [sub, ...ids] = positionals;
  if (sub === "failed" && ids.length === 0) {
    return withDaemon(async (d) => {
      const jobs = await d.failedJobs();
      for (const j of jobs) out(`${j.jobId} file=${j.fileId} tier=${j.tier} attempts=${j.attemptsMade} at=${j.finishedAt ?? "-"} reason=${j.failedReason}`);
      out(`${jobs.length} failed job(s)`);
      return 0;
    });
  }
  if (sub === "retry" && (ids.length > 0) !== values.all) {
    return withDaemon(async (d) => {
      const targets = values.all ? (await d.failedJobs()).map((j) => j.jobId) : ids;
      for (const id of targets) out(`${id} -> ${(await d.redrive(id, "cli")).jobId}`);
      return 0;
    });
  }
  if (sub === "counts" && ids.length === 0) {
    return withDaemon(async (d) => {
      out(JSON.stringify(await d.queueCounts()));
      return 0;
    });
  }
  err("usage: scan-daemon queue failed | queue retry JOB_ID... | queue retry --all | queue counts");
  return 2;
}

export async function quarantineCommand(args: string[], out: Out, err: Out): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { days: { type: "string" } } });
  const [sub, id] = positionals;
  const days = values.days === undefined ? undefined : Number(values.days);
  if (sub === "list" && !id) {
    return withDaemon(async (d) => {
      const entries = await d.quarantine.list();
      for (const e of entries) out(`${e.id} file=${e.fileId} verdict=${e.verdict}/${e.threatLevel} sha256=${e.sha256} size=${e.size} since=${e.createdAt}${e.encrypted ? " encrypted" : ""}`);
      out(`${entries.length} file(s) in quarantine`);
      return 0;
    });
  }
  if ((sub === "release" || sub === "delete") && id) {
    return withDaemon(async (d) => {
      await (sub === "release" ? d.quarantine.release(id, "cli") : d.quarantine.delete(id, "cli"));
      out(`${sub === "release" ? "released" : "deleted"} ${id}`);
      return 0;
    });
  }
  if (sub === "purge" && !id && (days === undefined || (Number.isInteger(days) && days >= 0))) {
    return withDaemon(async (d) => {
      const purged = await d.quarantine.purge(days ?? d.config.quarantine.retentionDays, new Date(), "cli");
      out(`purged ${purged} file(s)`);
      return 0;
    });
  }
  err("usage: scan-daemon quarantine list | release ID | delete ID | purge [--days N]");
  return 2;
}
