import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer } from "ws";
import { bearerToken, type ApiKeys, type Principal } from "../auth/api-keys.ts";
import { AuthError } from "../errors/auth-error.ts";
import type { ScanEvent } from "./event-bus.ts";
import type { Logger } from "../log.ts";

export interface WsSettings {
  readonly heartbeatMs: number;
  readonly maxBufferedBytes: number;
}

interface Client {
  readonly ws: WebSocket;
  readonly principal: Principal;
  alive: boolean;
}

/**
 * WebSocket clients and the events they may see: a user gets the events of its own files,
 * an admin also gets `stats`. A client that does not answer a ping within a heartbeat, or
 * that lets more than `maxBufferedBytes` pile up unsent, is dropped: one slow reader must
 * not hold the server's memory.
 */
export class WsHub {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 4096, handleProtocols: (offered) => (offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false) });
  private readonly clients = new Set<Client>();
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly keys: ApiKeys,
    private readonly settings: WsSettings,
    private readonly log: Logger,
  ) {
    this.heartbeat = setInterval(() => this.beat(), settings.heartbeatMs);
    this.heartbeat.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /**
   * Handles an HTTP server's `upgrade` event for one of `paths`. The key comes as a Bearer
   * header, as the subprotocol `bearer.KEY` beside `scan-daemon.v1` (a browser can set no
   * header, and a key in a URL ends up in histories and logs), or as ?token=.
   */
  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, paths: readonly string[]): Promise<void> {
    socket.on("error", () => socket.destroy());
    const url = new URL(req.url ?? "/", "http://localhost");
    if (!paths.includes(url.pathname)) return refuse(socket, 404, "NOT_FOUND", `WebSockets are served at ${paths.join(" or ")}`);
    let principal: Principal;
    try {
      const token = bearerToken(req.headers.authorization) ?? protocolToken(req.headers["sec-websocket-protocol"]) ?? url.searchParams.get("token");
      principal = await this.keys.authenticate(token ?? undefined, { ip: req.socket.remoteAddress ?? "", route: "GET /ws" });
    } catch (err) {
      if (err instanceof AuthError) return refuse(socket, 401, err.code === "MISSING_API_KEY" ? err.code : "INVALID_API_KEY", err.message);
      this.log.error({ err }, "websocket authentication failed");
      return refuse(socket, 503, "UNAVAILABLE", "try again later");
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.add(ws, principal));
  }

  publish(event: ScanEvent): void {
    if (this.clients.size === 0) return;
    const message = JSON.stringify(outgoing(event));
    for (const client of this.clients) {
      const allowed = event.type === "stats" ? client.principal.role === "admin" : client.principal.userId === event.userId;
      if (allowed) this.send(client, message);
    }
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const client of this.clients) client.ws.terminate();
    this.clients.clear();
    this.wss.close();
  }

  private add(ws: WebSocket, principal: Principal): void {
    const client: Client = { ws, principal, alive: true };
    this.clients.add(client);
    ws.on("pong", () => (client.alive = true));
    ws.on("close", () => this.clients.delete(client));
    ws.on("error", () => this.drop(client, "socket error"));
  }

  private send(client: Client, message: string): void {
    if (client.ws.readyState !== WebSocket.OPEN) return;
    if (client.ws.bufferedAmount > this.settings.maxBufferedBytes) return this.drop(client, "too slow");
    client.ws.send(message);
  }

  private beat(): void {
    for (const client of this.clients) {
      if (!client.alive) {
        this.drop(client, "no pong");
        continue;
      }
      client.alive = false;
      client.ws.ping();
    }
  }

  private drop(client: Client, reason: string): void {
    if (!this.clients.delete(client)) return;
    this.log.info({ keyId: client.principal.keyId, reason }, "websocket client dropped");
    client.ws.terminate();
  }
}

/** The subprotocol a browser offers, with `bearer.KEY`, and the server answers. */
export const SUBPROTOCOL = "scan-daemon.v1";

function protocolToken(header: string | undefined): string | undefined {
  const offered = (header ?? "").split(",").map((p) => p.trim());
  return offered.includes(SUBPROTOCOL) ? offered.find((p) => p.startsWith("bearer."))?.slice("bearer.".length) : undefined;
}

/** The message shapes of docs/api.md: the owner's id decided who gets it and stays here. */
function outgoing(event: ScanEvent): object {
  switch (event.type) {
    case "scan_progress":
      return { type: event.type, jobId: event.jobId, fileId: event.fileId, progress: event.progress };
    case "scan_result":
      return { type: event.type, jobId: event.jobId, fileId: event.fileId, fileName: event.fileName, result: event.result };
    case "stats":
      return { type: event.type, data: event.data };
  }
}

function refuse(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  const reason = { 401: "Unauthorized", 404: "Not Found", 503: "Service Unavailable" }[status] ?? "Error";
  const auth = status === 401 ? 'WWW-Authenticate: Bearer realm="medical-scan-daemon"\r\n' : "";
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${auth}Connection: close\r\n\r\n${body}`);
}
