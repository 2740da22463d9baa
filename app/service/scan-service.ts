import { startApiServer, type ApiServer } from "../api/api-server.ts";
import type { Config } from "../config.ts";
import { MedicalFileScanDaemon } from "../daemon.ts";
import type { Logger } from "../log.ts";
import { ScanMetrics } from "../events/scan-metrics.ts";
import { WorkerReports } from "../events/worker-reports.ts";
import { connectRedis } from "../store/redis-connection.ts";

/**
 * What one process of the service does: `intake` takes uploads and serves the API and
 * WebSockets, `worker` runs the scans, the reconciler and housekeeping, `all` does both (one
 * process, for development and the programmatic use of the seed). The appliance runs an
 * intake and a worker as two supervisord programs, so a scan never competes with intake for
 * its event loop.
 */
export type ServiceRole = "all" | "intake" | "worker";

export interface ScanService {
  readonly daemon: MedicalFileScanDaemon;
  /** Absent in a worker. */
  readonly api?: ApiServer;
  readonly metrics: ScanMetrics;
  close(): Promise<void>;
}

/** How often a worker reports its metrics and rules to the intake (its /metrics and readiness). */
const METRICS_PUBLISH_MS = 2000;

/**
 * Starts one role. Closed in reverse: the API stops taking requests before the daemon
 * finishes its scans; a worker publishes its last metrics before it goes.
 */
export async function startScanService(config: Config, log: Logger, role: ServiceRole = "all"): Promise<ScanService> {
  const redis = await connectRedis(config.redis.url, log, "reports");
  const reports = new WorkerReports(redis, `msd:${config.queue.name}`);
  let api: ApiServer | undefined;
  const serves = role !== "worker";
  const metrics: ScanMetrics = serves
    ? new ScanMetrics({ queueCounts: () => daemon.queueCounts(), clamd: () => daemon.clamdStatus(), webSocketClients: () => api?.hub.size ?? 0 }, async () => (await reports.others()).map((r) => r.metrics))
    : new ScanMetrics();
  const daemon: MedicalFileScanDaemon = new MedicalFileScanDaemon(config, { log, worker: role !== "intake", events: serves, onVerdict: (result, tier) => metrics.observe(result, tier), onPathRefused: () => metrics.pathRefused(), workers: () => reports.others() });
  const closers: (() => Promise<void>)[] = [() => redis.close().then(() => undefined)];
  const close = async () => {
    for (const undo of closers.splice(0).reverse()) await undo().catch((err: unknown) => log.warn({ err }, "close step failed"));
  };
  try {
    await daemon.initialize();
    closers.push(() => daemon.close());
    if (serves) {
      const started = await startApiServer(daemon, metrics, config.api, log);
      api = started;
      closers.push(() => started.close());
    } else {
      const publish = async () => reports.publish({ ...daemon.workerSummary()!, metrics: await metrics.snapshot() });
      const timer = setInterval(() => void publish().catch((err: unknown) => log.warn({ err }, "metrics not published")), METRICS_PUBLISH_MS);
      timer.unref();
      await publish();
      closers.push(async () => {
        clearInterval(timer);
        await reports.withdraw();
      });
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { daemon, api, metrics, close };
}
