import { createHash } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  /** The file the request is about, once the fake can tell (an upload_url request: when its upload arrives). */
  sha256?: string;
}

export interface BadFile {
  readonly malicious: number;
  readonly suspicious?: number;
  readonly detections?: Readonly<Record<string, string>>;
}

interface Analysis {
  readonly sha256: string;
  polls: number;
}

type Send = (status: number, body: object) => void;

/**
 * The one fake in the test tree: VirusTotal API v3 on a free local port, in its real wire
 * format. Checks `x-apikey` (401 WrongCredentialsError), enforces a request quota per window
 * (429 QuotaExceededError; a minute by default), answers file reports for a table of bad
 * hashes and 404 NotFoundError for any other, takes uploads (`POST /files`, `upload_url`)
 * whose analyses stay queued for `pollsUntilDone` reads of `GET /analyses/{id}` and then
 * report what `verdicts` holds for the uploaded bytes (known from then on by hash too), and
 * records every request it receives, with the file each is about (`requestsFor`), so that a
 * test can read its own files' requests whatever other scans are doing meanwhile.
 */
export class FakeVirusTotal {
  readonly requests: RecordedRequest[] = [];
  private windowStart = Date.now();
  private inWindow = 0;
  private readonly analyses = new Map<string, Analysis>();
  private readonly known = new Map<string, BadFile>();

  private constructor(
    private readonly server: http.Server,
    readonly apiKey: string,
    readonly bad: Map<string, BadFile>,
    private readonly options: { perWindow: number; windowMs: number; verdicts: Map<string, BadFile>; pollsUntilDone: number },
  ) {}

  static async start(options: { apiKey: string; bad?: Record<string, BadFile>; perWindow?: number; windowMs?: number; verdicts?: Record<string, BadFile>; pollsUntilDone?: number }): Promise<FakeVirusTotal> {
    const server = http.createServer((req, res) => fake.handle(req, res));
    const fake = new FakeVirusTotal(server, options.apiKey, new Map(Object.entries(options.bad ?? {})), {
      perWindow: options.perWindow ?? 1000,
      windowMs: options.windowMs ?? 60_000,
      verdicts: new Map(Object.entries(options.verdicts ?? {})),
      pollsUntilDone: options.pollsUntilDone ?? 1,
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return fake;
  }

  /** Starts a new quota window now, as the passing of the window would: a test need not race the clock. */
  openWindow(): void {
    this.windowStart = Date.now();
    this.inWindow = 0;
  }

  /** The requests about one file, in the order they arrived. */
  requestsFor(sha256: string): RecordedRequest[] {
    return this.requests.filter((r) => r.sha256 === sha256);
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/v3`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const recorded: RecordedRequest = { method: req.method ?? "", path: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks) };
      this.requests.push(recorded);
      const send: Send = (status, body) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
      if (req.headers["x-apikey"] !== this.apiKey) return send(401, { error: { code: "WrongCredentialsError", message: "Wrong API key" } });
      if (Date.now() - this.windowStart >= this.options.windowMs) {
        this.windowStart = Date.now();
        this.inWindow = 0;
      }
      if (++this.inWindow > this.options.perWindow) return send(429, { error: { code: "QuotaExceededError", message: "Quota exceeded" } });
      this.route(recorded, send).catch((err: Error) => send(400, { error: { code: "BadRequestError", message: err.message } }));
    });
  }

  private async route(req: RecordedRequest, send: Send): Promise<void> {
    const notFound = () => send(404, { error: { code: "NotFoundError", message: `Resource "${req.path}" not found` } });
    if (req.method === "GET" && req.path === "/api/v3/files/upload_url") return send(200, { data: `${this.url}/uploads/${this.requests.length}` });
    if (req.method === "POST" && (req.path === "/api/v3/files" || req.path.startsWith("/api/v3/uploads/"))) return send(200, await this.upload(req));
    const analysis = /^\/api\/v3\/analyses\/([^/?]+)$/.exec(req.path);
    if (req.method === "GET" && analysis) return this.readAnalysis(req, decodeURIComponent(analysis[1]!), send, notFound);
    const file = /^\/api\/v3\/files\/([^/?]+)$/.exec(req.path);
    if (file) req.sha256 = file[1]!;
    const report = file && req.method === "GET" ? (this.bad.get(file[1]!) ?? this.known.get(file[1]!)) : undefined;
    if (!report) return notFound();
    send(200, { data: { id: file![1], type: "file", links: { self: `${this.url}/files/${file![1]}` }, attributes: { sha256: file![1], last_analysis_stats: stats(report), last_analysis_results: results(report) } } });
  }

  private async upload(req: RecordedRequest): Promise<object> {
    const form = await new Request("http://fake/", { method: "POST", headers: { "content-type": req.headers["content-type"] ?? "" }, body: req.body }).formData();
    const file = form.get("file");
    if (!(file instanceof Blob)) throw new Error("no file field");
    const sha256 = createHash("sha256").update(Buffer.from(await file.arrayBuffer())).digest("hex");
    req.sha256 = sha256;
    const viaUrl = /^\/api\/v3\/uploads\/(\d+)$/.exec(req.path);
    if (viaUrl) this.requests[Number(viaUrl[1]) - 1]!.sha256 = sha256;
    const id = Buffer.from(`${sha256.slice(0, 32)}:${this.analyses.size}`).toString("base64url");
    this.analyses.set(id, { sha256, polls: 0 });
    return { data: { type: "analysis", id, links: { self: `${this.url}/analyses/${id}` } } };
  }

  private readAnalysis(req: RecordedRequest, id: string, send: Send, notFound: () => void): void {
    const analysis = this.analyses.get(id);
    if (!analysis) return notFound();
    req.sha256 = analysis.sha256;
    const done = ++analysis.polls > this.options.pollsUntilDone;
    const verdict = this.options.verdicts.get(analysis.sha256) ?? { malicious: 0 };
    if (done) this.known.set(analysis.sha256, verdict);
    send(200, {
      data: { id, type: "analysis", attributes: done ? { status: "completed", stats: stats(verdict), results: results(verdict) } : { status: "queued", stats: {}, results: {} } },
      meta: { file_info: { sha256: analysis.sha256 } },
    });
  }
}

function stats(file: BadFile): object {
  return { malicious: file.malicious, suspicious: file.suspicious ?? 0, undetected: 60 - file.malicious, harmless: 0, timeout: 0, "type-unsupported": 5, failure: 0 };
}

function results(file: BadFile): object {
  return Object.fromEntries(Object.entries(file.detections ?? {}).map(([engine, result]) => [engine, { category: "malicious", engine_name: engine, result }]));
}
