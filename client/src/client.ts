import { openAsBlob } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { components, paths } from "./openapi.ts";

type Json<Path extends keyof paths, Method extends "get" | "post", Status extends number> = paths[Path][Method] extends { responses: Record<Status, { content: { "application/json": infer T } }> } ? T : never;

export type ScanResult = components["schemas"]["Result"];
export type Finding = components["schemas"]["Finding"];
export type Scanned = components["schemas"]["Scanned"];
export type Queued = components["schemas"]["Queued"];
export type FileInfo = Json<"/api/medical-files/{fileId}", "get", 200>;
export type FilePage = Json<"/api/medical-files", "get", 200>;
export type FileScans = Json<"/api/medical-files/{fileId}/scans", "get", 200>;
export type RescanQueued = Json<"/api/medical-files/{fileId}/rescan", "post", 202>;
export type ErrorBody = components["schemas"]["Error"];

export interface ScanClientOptions {
  /** The daemon's address, e.g. http://scan-gate:3000. */
  readonly baseUrl: string;
  /** An API key from `scan-daemon keys create`. */
  readonly apiKey: string;
  /** Per request, the upload's `wait` included (default 130 s). */
  readonly timeoutMs?: number;
  /** How often a 429 or 503 (or a refused connection) is tried again (default 3). */
  readonly retries?: number;
  /** The first backoff when the answer names no Retry-After; it doubles each time (default 500 ms). */
  readonly retryBaseMs?: number;
  /** A Retry-After longer than this (a day's limit: hours) is not waited for: the error is thrown (default 30 s). */
  readonly maxRetryWaitMs?: number;
  readonly fetch?: typeof fetch;
}

/** The daemon answered with an error: its HTTP status, its `error.code` and, on 429/503, how long it asked to wait. */
export class ScanApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(`${status} ${code}: ${message}`);
    this.name = "ScanApiError";
  }
}

/** The daemon could not be reached or did not answer in time: never a verdict. */
export class ScanUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ScanUnavailableError";
  }
}

/** What an upload can send: a path on disk (streamed from the file, never read into memory), a Blob or bytes. */
export type UploadSource = string | Blob | Uint8Array;

export interface UploadOptions {
  /** The file name the daemon checks against the content (default: the path's base name, or "upload"). */
  readonly name?: string;
  readonly fileId?: string;
  /** SHA-256 of the bytes in hex: the daemon refuses the upload if what it received differs. */
  readonly fileHash?: string;
  /** Seconds to wait for the verdict (0-120, default 60); 0 answers at once with `queued`. */
  readonly wait?: number;
}

const RETRIED = new Set([429, 503]);

/** A typed client for the medical-scan-daemon HTTP API (docs/api.md). */
export class ScanClient {
  private readonly base: URL;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly retryBaseMs: number;
  private readonly maxRetryWaitMs: number;
  private readonly fetch: typeof fetch;

  constructor(private readonly options: ScanClientOptions) {
    this.base = new URL(options.baseUrl.endsWith("/") ? options.baseUrl : `${options.baseUrl}/`);
    this.timeoutMs = options.timeoutMs ?? 130_000;
    this.retries = options.retries ?? 3;
    this.retryBaseMs = options.retryBaseMs ?? 500;
    this.maxRetryWaitMs = options.maxRetryWaitMs ?? 30_000;
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  /** Uploads a file; with `wait` > 0 the answer holds the verdict if the scan finished in time, else it is `queued`. */
  async upload(source: UploadSource, options: UploadOptions = {}): Promise<Scanned | Queued> {
    const blob = typeof source === "string" ? await openAsBlob(source) : source instanceof Blob ? source : new Blob([source]);
    const name = options.name ?? (typeof source === "string" ? path.basename(source) : "upload");
    const wait = options.wait ?? 60;
    const form = () => {
      const body = new FormData();
      if (options.fileId) body.append("fileId", options.fileId);
      if (options.fileHash) body.append("fileHash", options.fileHash);
      body.append("file", blob, name);
      return body;
    };
    return this.json("POST", `api/medical-files/upload?wait=${wait}`, form);
  }

  /** The caller's files, newest first, each with its latest verdict; pass a page's `next` as `after` for the one after it. */
  files(options: { limit?: number; after?: string } = {}): Promise<FilePage> {
    const query = new URLSearchParams();
    if (options.limit !== undefined) query.set("limit", String(options.limit));
    if (options.after) query.set("after", options.after);
    return this.json("GET", `api/medical-files${query.size > 0 ? `?${query}` : ""}`);
  }

  /** A file's metadata and its latest scan. */
  file(fileId: string): Promise<FileInfo> {
    return this.json("GET", `api/medical-files/${encodeURIComponent(fileId)}`);
  }

  /** Every scan of a file, newest first. */
  scans(fileId: string): Promise<FileScans> {
    return this.json("GET", `api/medical-files/${encodeURIComponent(fileId)}/scans`);
  }

  /** Scans a stored file again with today's engines (premium and above). */
  rescan(fileId: string): Promise<RescanQueued> {
    return this.json("POST", `api/medical-files/${encodeURIComponent(fileId)}/rescan`);
  }

  /** The bytes of a file whose latest result is clean, as a stream; 409 while it is not. */
  async download(fileId: string): Promise<ReadableStream<Uint8Array>> {
    const res = await this.send("GET", `api/medical-files/${encodeURIComponent(fileId)}/content`);
    if (!res.body) throw new ScanUnavailableError("the daemon sent no body");
    return res.body;
  }

  private async json<T>(method: string, route: string, body?: () => FormData): Promise<T> {
    const res = await this.send(method, route, body);
    return (await res.json()) as T;
  }

  /** One request with retries: 429 and 503 after Retry-After or a doubling backoff, a refused connection after the backoff. */
  private async send(method: string, route: string, body?: () => FormData): Promise<Response> {
    const url = new URL(route, this.base);
    for (let attempt = 0; ; attempt++) {
      const backoff = this.retryBaseMs * 2 ** attempt;
      let res: Response;
      try {
        res = await this.fetch(url, { method, body: body?.(), headers: { authorization: `Bearer ${this.options.apiKey}` }, signal: AbortSignal.timeout(this.timeoutMs), redirect: "error" });
      } catch (err) {
        const refused = (err as { cause?: { code?: string } }).cause?.code === "ECONNREFUSED";
        if (refused && attempt < this.retries) {
          await sleep(backoff);
          continue;
        }
        const timedOut = (err as Error).name === "TimeoutError";
        throw new ScanUnavailableError(timedOut ? `the daemon did not answer within ${this.timeoutMs} ms` : `the daemon is not reachable: ${(err as Error).message}`, { cause: err });
      }
      if (res.ok) return res;
      const error = await apiError(res);
      const waitMs = error.retryAfterSeconds !== undefined ? error.retryAfterSeconds * 1000 : backoff;
      if (!RETRIED.has(res.status) || attempt >= this.retries || waitMs > this.maxRetryWaitMs) throw error;
      await sleep(waitMs);
    }
  }
}

async function apiError(res: Response): Promise<ScanApiError> {
  const text = await res.text().catch(() => "");
  let body: Partial<ErrorBody> = {};
  try {
    body = JSON.parse(text) as ErrorBody;
  } catch {
    // Not the daemon's JSON (a proxy's page): the status says enough.
  }
  const retryAfter = Number(res.headers.get("retry-after"));
  return new ScanApiError(res.status, body.error?.code ?? "HTTP_ERROR", body.error?.message ?? (text.slice(0, 200) || res.statusText), Number.isFinite(retryAfter) && res.headers.has("retry-after") ? retryAfter : undefined);
}
