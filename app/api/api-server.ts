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
const UPLOAD_REQUEST_TIMEOUT_MS = 20 * 60_000;
const UPLOAD_PATH = "/api/medical-files/upload";
/** An idle keep-alive connection is closed after this, and after this many requests. */
const KEEP_ALIVE_TIMEOUT_MS = 5000;
const MAX_REQUESTS_PER_SOCKET = 1000;

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

  const handle = app.callback();
  const api = limited(
    http.createServer(serverOptions(settings, UPLOAD_REQUEST_TIMEOUT_MS), (req, res) => {
      if (!(req.method === "POST" && req.url?.split("?")[0] === UPLOAD_PATH)) cutOffAfter(req, settings.requestTimeoutMs);
      void handle(req, res);
    }),
    settings,
  );
  api.on("upgrade", (req, socket, head) => void hub.upgrade(req, socket, head, ["/ws"]));
  const ws = limited(
    http.createServer(serverOptions(settings, settings.requestTimeoutMs), (_req, res) => {
      res.writeHead(426, { "Content-Type": "application/json", Upgrade: "websocket" }).end(JSON.stringify({ error: { code: "UPGRADE_REQUIRED", message: "this port serves WebSockets only" } }));
    }),
    settings,
  );
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

function serverOptions(settings: ApiSettings, requestTimeout: number): http.ServerOptions {
  // Node checks the header and request deadlines every connectionsCheckingInterval (30 s by default).
  return { requestTimeout, headersTimeout: Math.min(settings.headersTimeoutMs, requestTimeout), keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS, connectionsCheckingInterval: Math.min(1000, settings.headersTimeoutMs) };
}

function limited(server: http.Server, settings: ApiSettings): http.Server {
  server.maxConnections = settings.maxConnections;
  server.maxRequestsPerSocket = MAX_REQUESTS_PER_SOCKET;
  return server;
}

/**
 * Node has one requestTimeout per server; the upload route needs minutes, every other route
 * only a small request. A request that is still arriving after `ms` loses its connection.
 */
function cutOffAfter(req: http.IncomingMessage, ms: number): void {
  if (req.complete) return;
  // Not cleared on "close": that fires once the response is sent, and a client that got its
  // answer (a 401, say) could otherwise keep trickling a body under the upload's deadline.
  setTimeout(() => {
    if (!req.complete && !req.socket.destroyed) req.socket.destroy();
  }, ms).unref();
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
