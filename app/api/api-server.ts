import http from "node:http";
import type { AddressInfo } from "node:net";
import type { ApiSettings } from "../config.ts";
import type { MedicalFileScanDaemon } from "../daemon.ts";
import type { Logger } from "../log.ts";
import type { ScanMetrics } from "../events/scan-metrics.ts";
import { WsHub } from "../events/ws-hub.ts";
import { createApi } from "./create-api.ts";

export interface ApiServer {
  readonly port: number;
  readonly wsPort: number;
  readonly hub: WsHub;
  close(): Promise<void>;
}

/** A 500 MB upload at 5 Mbit/s takes about 14 minutes; Node's default of 5 would cut it off. */
const REQUEST_TIMEOUT_MS = 20 * 60_000;

/**
 * The HTTP API on PORT (WebSockets at /ws there too) and a WebSocket-only listener on
 * SCAN_DAEMON_WS_PORT. Every event the daemon hears (from any worker, through Redis) goes
 * to the hub, which decides who may see it.
 */
export async function startApiServer(daemon: MedicalFileScanDaemon, metrics: ScanMetrics, settings: ApiSettings, log: Logger): Promise<ApiServer> {
  const { app } = createApi(daemon, metrics, log);
  const hub = new WsHub(daemon.keys, { heartbeatMs: settings.heartbeatMs, maxBufferedBytes: settings.wsMaxBufferedBytes }, log);
  const forward = (event: Parameters<WsHub["publish"]>[0]) => hub.publish(event);
  daemon.on("scan_progress", forward).on("scan_result", forward).on("stats", forward);

  const api = http.createServer({ requestTimeout: REQUEST_TIMEOUT_MS }, app.callback());
  api.on("upgrade", (req, socket, head) => void hub.upgrade(req, socket, head, ["/ws"]));
  const ws = http.createServer((_req, res) => {
    res.writeHead(426, { "Content-Type": "application/json", Upgrade: "websocket" }).end(JSON.stringify({ error: { code: "UPGRADE_REQUIRED", message: "this port serves WebSockets only" } }));
  });
  ws.on("upgrade", (req, socket, head) => void hub.upgrade(req, socket, head, ["/ws", "/"]));

  const servers: http.Server[] = [];
  const close = async () => {
    daemon.off("scan_progress", forward).off("scan_result", forward).off("stats", forward);
    hub.close();
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeIdleConnections();
            setTimeout(() => s.closeAllConnections(), 5000).unref();
          }),
      ),
    );
  };
  try {
    for (const [server, port] of [[api, settings.port], [ws, settings.wsPort]] as const) {
      await listen(server, port, settings.host);
      servers.push(server);
    }
  } catch (err) {
    await close();
    throw err;
  }
  const port = (api.address() as AddressInfo).port;
  const wsPort = (ws.address() as AddressInfo).port;
  log.info({ port, wsPort }, "api listening");
  return { port, wsPort, hub, close };
}

function listen(server: http.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}
