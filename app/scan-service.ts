import { startApiServer, type ApiServer } from "./api/api-server.ts";
import type { Config } from "./config.ts";
import { MedicalFileScanDaemon } from "./daemon.ts";
import type { Logger } from "./log.ts";
import { ScanMetrics } from "./metrics/scan-metrics.ts";

export interface ScanService {
  readonly daemon: MedicalFileScanDaemon;
  readonly api: ApiServer;
  readonly metrics: ScanMetrics;
  close(): Promise<void>;
}

/**
 * What `scan-daemon start` runs: the daemon (worker, reconciler, housekeeping) and the HTTP
 * and WebSocket API in front of it, with metrics fed by the verdicts this process records.
 * Closed in reverse: the API stops taking requests before the daemon finishes its scans.
 */
export async function startScanService(config: Config, log: Logger, options: { worker?: boolean } = {}): Promise<ScanService> {
  let api: ApiServer | undefined;
  const daemon: MedicalFileScanDaemon = new MedicalFileScanDaemon(config, { log, worker: options.worker, onVerdict: (result, tier) => metrics.observe(result, tier) });
  const metrics = new ScanMetrics({ queueCounts: () => daemon.queueCounts(), clamd: () => daemon.clamdStatus(), webSocketClients: () => api?.hub.size ?? 0 });
  await daemon.initialize();
  try {
    api = await startApiServer(daemon, metrics, config.api, log);
  } catch (err) {
    await daemon.close();
    throw err;
  }
  const started = api;
  return {
    daemon,
    api: started,
    metrics,
    async close() {
      await started.close();
      await daemon.close();
    },
  };
}
