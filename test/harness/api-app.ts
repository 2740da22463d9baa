import http from "node:http";
import { loadConfig } from "../../app/config.ts";
import { createLogger } from "../../app/log.ts";
import type { ApiServer } from "../../app/api/api-server.ts";
import { startScanService, type ScanService, type ServiceRole } from "../../app/service/scan-service.ts";
import type { Role } from "../../app/store/api-key-repo.ts";
import type { Tier } from "../../app/verdict/tiers.ts";
import type { ServiceStack } from "./service-stack.ts";

export interface ApiApp {
  readonly service: ScanService & { readonly api: ApiServer };
  readonly base: string;
  /** ws://… on the API port (/ws) or on SCAN_DAEMON_WS_PORT. */
  wsUrl(on: "api" | "ws-port", token?: string): string;
  /** A new API key, made through the same code path as `scan-daemon keys create`. */
  key(userId: string, tier: Tier, role?: Role): Promise<string>;
  close(): Promise<void>;
}

/** `scan-daemon start`'s service (API, worker, WebSockets; `intake`: no worker) in this process, on free ports of the stack. */
export async function startApiApp(stack: ServiceStack, env: Record<string, string> = {}, role: Exclude<ServiceRole, "worker"> = "all"): Promise<ApiApp> {
  const started = await startScanService(loadConfig({ ...stack.env, ...env }), createLogger("silent"), role);
  const api = started.api!;
  const service = { ...started, api, close: () => started.close() };
  const base = `http://127.0.0.1:${api.port}`;
  return {
    service,
    base,
    wsUrl(on, token) {
      const port = on === "api" ? service.api.port : service.api.wsPort;
      return `ws://127.0.0.1:${port}/ws${token ? `?token=${encodeURIComponent(token)}` : ""}`;
    },
    async key(userId, tier, role = "user") {
      return (await service.daemon.keys.create({ userId, tier, role }, "test")).key;
    },
    close: () => service.close(),
  };
}

/** A multipart upload through fetch, as a client would send it. */
export async function upload(
  app: Pick<ApiApp, "base">,
  key: string | null,
  data: Buffer,
  options: { name?: string; type?: string; fields?: Record<string, string>; query?: string } = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const form = new FormData();
  for (const [k, v] of Object.entries(options.fields ?? {})) form.append(k, v);
  form.append("file", new Blob([data], options.type ? { type: options.type } : {}), options.name ?? "study.dcm");
  const res = await fetch(`${app.base}/api/medical-files/upload${options.query ?? ""}`, { method: "POST", body: form, headers: key ? { authorization: `Bearer ${key}` } : {} });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

/** A JSON request with a key. */
export async function call(app: Pick<ApiApp, "base">, key: string | null, method: string, path: string): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${app.base}${path}`, { method, headers: key ? { authorization: `Bearer ${key}` } : {} });
  const text = await res.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { text };
  }
  return { status: res.status, body, headers: res.headers };
}

export interface RawUpload {
  readonly key: string;
  readonly fields?: Record<string, string>;
  /** Size of the file part, of filler bytes unless `data` is given; sent in 64 KiB chunks. */
  readonly size?: number;
  readonly data?: Buffer;
  /** The part's filename, written into its header as is (no escaping): for names fetch would clean. */
  readonly fileName?: string;
  /** Declared Content-Length; by default the body is sent chunked, with no length. */
  readonly contentLength?: number;
  /** Stop sending after this many file bytes and cut the connection. */
  readonly abortAfter?: number;
  /** Called once `abortAfter` bytes are out, before the connection is cut. */
  readonly beforeAbort?: () => Promise<void>;
}

/** An upload over a raw HTTP request, for what fetch cannot do: no length, a lying length, a client that goes away. */
export function rawUpload(app: Pick<ApiApp, "base">, spec: RawUpload): Promise<{ status: number; body: string } | "aborted"> {
  const boundary = "----msd-test-boundary";
  const head = Buffer.from(
    Object.entries(spec.fields ?? {})
      .map(([k, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`)
      .join("") + `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${spec.fileName ?? "big.bin"}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const url = new URL(`${app.base}/api/medical-files/upload`);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${spec.key}`, "content-type": `multipart/form-data; boundary=${boundary}` };
    if (spec.contentLength !== undefined) headers["content-length"] = String(spec.contentLength);
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: "POST", headers });
    let answered = false;
    req.on("response", (res) => {
      answered = true;
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, body });
        req.destroy();
      });
    });
    req.on("error", (err) => (spec.abortAfter !== undefined ? resolve("aborted") : reject(err)));
    const filler = Buffer.alloc(64 * 1024, 0x41);
    let sent = 0;
    const size = spec.data?.length ?? spec.size ?? 0;
    const pump = async () => {
      req.write(head);
      while (!answered && sent < size) {
        if (spec.abortAfter !== undefined && sent >= spec.abortAfter) {
          await spec.beforeAbort?.();
          req.destroy();
          return;
        }
        const n = Math.min(filler.length, size - sent);
        const chunk = spec.data ? spec.data.subarray(sent, sent + n) : filler.subarray(0, n);
        sent += n;
        if (!req.write(chunk)) await new Promise((r) => req.once("drain", r));
      }
      if (!answered) req.end(tail);
    };
    pump().catch(reject);
  });
}
