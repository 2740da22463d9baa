import { loadConfig } from "../../app/config.ts";
import { createLogger } from "../../app/log.ts";
import { startScanService, type ScanService } from "../../app/scan-service.ts";
import type { Role } from "../../app/store/api-key-repo.ts";
import type { Tier } from "../../app/tiers.ts";
import type { ServiceStack } from "./service-stack.ts";

export interface ApiApp {
  readonly service: ScanService;
  readonly base: string;
  /** ws://… on the API port (/ws) or on SCAN_DAEMON_WS_PORT. */
  wsUrl(on: "api" | "ws-port", token?: string): string;
  /** A new API key, made through the same code path as `scan-daemon keys create`. */
  key(userId: string, tier: Tier, role?: Role): Promise<string>;
  close(): Promise<void>;
}

/** `scan-daemon start`'s service (API, worker, WebSockets) in this process, on free ports of the stack. */
export async function startApiApp(stack: ServiceStack, env: Record<string, string> = {}): Promise<ApiApp> {
  const service = await startScanService(loadConfig({ ...stack.env, ...env }), createLogger("silent"));
  const base = `http://127.0.0.1:${service.api.port}`;
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
  app: ApiApp,
  key: string | null,
  data: Buffer,
  options: { name?: string; fields?: Record<string, string>; query?: string } = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const form = new FormData();
  for (const [k, v] of Object.entries(options.fields ?? {})) form.append(k, v);
  form.append("file", new Blob([data]), options.name ?? "upload.bin");
  const res = await fetch(`${app.base}/api/medical-files/upload${options.query ?? ""}`, { method: "POST", body: form, headers: key ? { authorization: `Bearer ${key}` } : {} });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

/** A JSON request with a key. */
export async function call(app: ApiApp, key: string | null, method: string, path: string): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
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
