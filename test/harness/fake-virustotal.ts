import http from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface BadFile {
  readonly malicious: number;
  readonly suspicious?: number;
  readonly detections?: Readonly<Record<string, string>>;
}

/**
 * The one fake in the test tree: VirusTotal API v3 on a free local port, in its real wire
 * format. Checks `x-apikey` (401 WrongCredentialsError), enforces a request quota per window
 * (429 QuotaExceededError; a minute by default), answers file reports for a table of bad
 * hashes and 404 NotFoundError for any other, and records every request it receives.
 */
export class FakeVirusTotal {
  readonly requests: RecordedRequest[] = [];
  private windowStart = Date.now();
  private inWindow = 0;

  private constructor(
    private readonly server: http.Server,
    readonly apiKey: string,
    readonly bad: Map<string, BadFile>,
    readonly quota: { perWindow: number; windowMs: number },
  ) {}

  static async start(options: { apiKey: string; bad?: Record<string, BadFile>; perWindow?: number; windowMs?: number }): Promise<FakeVirusTotal> {
    const server = http.createServer((req, res) => fake.handle(req, res));
    const fake = new FakeVirusTotal(server, options.apiKey, new Map(Object.entries(options.bad ?? {})), { perWindow: options.perWindow ?? 1000, windowMs: options.windowMs ?? 60_000 });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return fake;
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
      this.requests.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks) });
      const send = (status: number, body: object) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
      if (req.headers["x-apikey"] !== this.apiKey) return send(401, { error: { code: "WrongCredentialsError", message: "Wrong API key" } });
      if (Date.now() - this.windowStart >= this.quota.windowMs) {
        this.windowStart = Date.now();
        this.inWindow = 0;
      }
      if (++this.inWindow > this.quota.perWindow) return send(429, { error: { code: "QuotaExceededError", message: "Quota exceeded" } });
      const m = /^\/api\/v3\/files\/([^/?]+)$/.exec(req.url ?? "");
      const bad = m && req.method === "GET" ? this.bad.get(m[1]!) : undefined;
      if (!m || req.method !== "GET" || !bad) return send(404, { error: { code: "NotFoundError", message: `Resource "${m?.[1] ?? req.url}" not found` } });
      const results = Object.fromEntries(Object.entries(bad.detections ?? {}).map(([engine, result]) => [engine, { category: "malicious", engine_name: engine, result }]));
      send(200, {
        data: {
          id: m[1],
          type: "file",
          links: { self: `${this.url}/files/${m[1]}` },
          attributes: {
            sha256: m[1],
            last_analysis_stats: { malicious: bad.malicious, suspicious: bad.suspicious ?? 0, undetected: 60 - bad.malicious, harmless: 0, timeout: 0, "type-unsupported": 5, failure: 0 },
            last_analysis_results: results,
          },
        },
      });
    });
  }
}
