import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { access, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import express from "express";
import Koa from "koa";
import { koaBody } from "koa-body";
import multer from "multer";
import { ScanApiError, ScanClient, ScanUnavailableError, type Scanned } from "../../client/src/index.ts";
import { expressScanGate } from "../../client/src/express.ts";
import { koaScanGate } from "../../client/src/koa.ts";
import { generateTypes, TYPES_FILE } from "../../client/scripts/generate-types.ts";
import { buildDicom } from "../fixtures/dicom.ts";
import { eicar } from "../fixtures/eicar.ts";
import { Appliance } from "../harness/appliance.ts";

/** An application server on a free port; `close` ends it. */
async function serve(handler: http.RequestListener): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** A multipart POST of `files` (field → [name, bytes]) to an application. */
async function post(url: string, files: Record<string, [string, Buffer]>): Promise<{ status: number; body: Record<string, unknown>; retryAfter: string | null }> {
  const form = new FormData();
  for (const [field, [name, bytes]] of Object.entries(files)) form.append(field, new Blob([bytes]), name);
  const res = await fetch(url, { method: "POST", body: form });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, retryAfter: res.headers.get("retry-after") };
}

/** A port where nothing listens, and one where a server accepts connections and never answers. */
async function deadEnds(): Promise<{ refused: string; silent: string; close: () => void }> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const refused = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const sockets: net.Socket[] = [];
  const silent = net.createServer((s) => sockets.push(s));
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  return {
    refused,
    silent: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
    close: () => {
      for (const s of sockets) s.destroy();
      silent.close();
    },
  };
}

describe("the client package and its upload middleware, against the real appliance", () => {
  let appliance: Appliance;
  let client: ScanClient;
  let premium: ScanClient;
  let work: string;
  const clean = buildDicom();
  before(async () => {
    appliance = await Appliance.start({ CLAMAV_OFFICIAL_DATABASES: "false" });
    client = new ScanClient({ baseUrl: appliance.base, apiKey: (await appliance.key("client-app", "free")).key });
    premium = new ScanClient({ baseUrl: appliance.base, apiKey: (await appliance.key("client-premium", "premium")).key });
    work = await mkdtemp(path.join(os.tmpdir(), "msd-client-"));
  });
  after(async () => {
    await appliance?.destroy();
    await rm(work, { recursive: true, force: true });
  });

  it("its types are generated from the OpenAPI document the daemon serves, and are current", async () => {
    assert.equal(await readFile(TYPES_FILE, "utf8"), await generateTypes(), "run npm run client:types");
    const served = await (await fetch(`${appliance.base}/api/openapi.json`)).json();
    const { OPENAPI_DOCUMENT } = await import("../../app/api/openapi.ts");
    assert.deepEqual(served, JSON.parse(JSON.stringify(OPENAPI_DOCUMENT)));
  });

  it("uploads from a path (streamed), waits for the verdict, reads the file, its scans and its bytes; rescans", async () => {
    const file = path.join(work, "IM0001.dcm");
    await writeFile(file, clean);
    const answer = (await premium.upload(file, { fileId: "client-ct-1", fileHash: createHash("sha256").update(clean).digest("hex"), wait: 60 })) as Scanned;
    assert.equal(answer.fileId, "client-ct-1");
    assert.equal(answer.result.status, "clean");
    assert.equal((await premium.file("client-ct-1")).latestScan?.results.status, "clean");
    assert.equal((await premium.scans("client-ct-1")).scans.length, 1);
    const bytes = Buffer.from(await new Response(await premium.download("client-ct-1")).arrayBuffer());
    assert.deepEqual(bytes, clean);
    assert.match((await premium.rescan("client-ct-1")).scanJobId, /\S/);
    const listed = await premium.files({ limit: 10 });
    assert.deepEqual([listed.files[0]?.fileId, listed.files[0]?.status, listed.next], ["client-ct-1", "clean", null]);
  });

  it("an infected upload's verdict, its download refused (409), errors typed with status and code", async () => {
    const answer = (await client.upload(eicar(), { name: "notes.txt", fileId: "client-eicar" })) as Scanned;
    assert.equal(answer.result.status, "infected");
    await assert.rejects(client.download("client-eicar"), (err: ScanApiError) => err instanceof ScanApiError && err.status === 409);
    await assert.rejects(client.file("no-such-file"), (err: ScanApiError) => err instanceof ScanApiError && err.status === 404 && err.code === "FILE_NOT_FOUND");
    await assert.rejects(client.rescan("client-eicar"), (err: ScanApiError) => err instanceof ScanApiError && err.status === 403);
    const queued = await client.upload(clean, { name: "IM0002.dcm", wait: 0 });
    assert.equal("status" in queued && queued.status, "queued");
  });

  it("retries 429 and 503 after their Retry-After or a doubling backoff, and gives up on a Retry-After past its limit", async () => {
    const answers: Array<[number, Record<string, string>]> = [];
    const seen: number[] = [];
    // In front of the real daemon: answers from the list first, then passes requests through.
    const proxy = await serve((req, res) => {
      seen.push(Date.now());
      const canned = answers.shift();
      if (canned) {
        res.writeHead(canned[0], { "content-type": "application/json", ...canned[1] }).end(JSON.stringify({ error: { code: canned[0] === 429 ? "DAILY_LIMIT" : "NOT_READY", message: "canned" } }));
        return;
      }
      const upstream = http.request(`${appliance.base}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode!, up.headers);
        up.pipe(res);
      });
      req.pipe(upstream);
    });
    try {
      const key = (await appliance.key("client-retry", "free")).key;
      const retrying = new ScanClient({ baseUrl: proxy.url, apiKey: key, retryBaseMs: 100 });
      answers.push([429, { "retry-after": "1" }], [503, {}], [503, {}]);
      const answer = (await retrying.upload(clean, { name: "IM0003.dcm" })) as Scanned;
      assert.equal(answer.result.status, "clean");
      assert.equal(seen.length, 4);
      assert.ok(seen[1]! - seen[0]! >= 950, "waited for Retry-After: 1");
      assert.ok(seen[3]! - seen[2]! >= 190, "the backoff doubles");

      seen.length = 0;
      answers.push([429, { "retry-after": "3600" }]);
      await assert.rejects(retrying.upload(clean, { name: "IM0004.dcm" }), (err: ScanApiError) => err.status === 429 && err.retryAfterSeconds === 3600);
      assert.equal(seen.length, 1, "a day's limit is not waited for");

      seen.length = 0;
      answers.push([503, {}], [503, {}], [503, {}], [503, {}]);
      await assert.rejects(retrying.upload(clean, { name: "IM0005.dcm" }), (err: ScanApiError) => err.status === 503);
      assert.equal(seen.length, 4, "the first try and 3 retries");
    } finally {
      await proxy.close();
    }
  });

  describe("Koa middleware (after koa-body)", () => {
    let app: { url: string; close: () => Promise<void> };
    let reached: string[];
    let uploads: string;
    const gated = (gateClient: Pick<ScanClient, "upload">) => {
      const koa = new Koa();
      koa.use(koaBody({ multipart: true, formidable: { uploadDir: uploads } }));
      koa.use(koaScanGate({ client: gateClient, waitSeconds: 30 }));
      koa.use((ctx) => {
        reached.push(...(ctx.state.scannedFiles ?? []).map((f) => f.name));
        ctx.body = { stored: (ctx.state.scannedFiles ?? []).map((f) => ({ name: f.name, status: f.result.status, sha256: f.result.sha256 })) };
      });
      return serve(koa.callback());
    };
    before(async () => {
      uploads = await mkdtemp(path.join(os.tmpdir(), "msd-koa-uploads-"));
      app = await gated(client);
    });
    after(async () => {
      await app.close();
      await rm(uploads, { recursive: true, force: true });
    });

    it("a clean study goes through with its verdicts attached", async () => {
      reached = [];
      const res = await post(app.url, { image: ["IM1.dcm", clean], report: ["IM2.dcm", buildDicom()] });
      assert.equal(res.status, 200);
      assert.deepEqual(reached.sort(), ["IM1.dcm", "IM2.dcm"]);
      assert.deepEqual((res.body.stored as Array<{ status: string }>).map((s) => s.status), ["clean", "clean"]);
    });

    it("anything not clean is 422 FILE_REJECTED with its findings, never reaches the handler, and is removed from disk", async () => {
      reached = [];
      const kept = await readdir(uploads);
      const res = await post(app.url, { image: ["IM1.dcm", clean], attachment: ["notes.txt", eicar()] });
      assert.equal(res.status, 422);
      const error = res.body.error as { code: string; status: string; field: string; findings: Array<{ engine: string; id: string }> };
      assert.equal(error.code, "FILE_REJECTED");
      assert.equal(error.status, "infected");
      assert.equal(error.field, "attachment");
      assert.ok(error.findings.some((f) => f.engine === "clamav"));
      assert.deepEqual(reached, []);
      assert.deepEqual((await readdir(uploads)).sort(), kept.sort(), "the refused upload's files are gone");
    });

    it("a scanner that cannot be reached, or does not answer in time, is 503, never a pass", async () => {
      const ends = await deadEnds();
      try {
        for (const baseUrl of [ends.refused, ends.silent]) {
          const down = await gated(new ScanClient({ baseUrl, apiKey: "k", timeoutMs: 1500, retries: 1, retryBaseMs: 50 }));
          try {
            reached = [];
            const res = await post(down.url, { image: ["IM1.dcm", clean] });
            assert.equal(res.status, 503, baseUrl);
            assert.equal((res.body.error as { code: string }).code, "SCAN_UNAVAILABLE");
            assert.equal(res.retryAfter, "30");
            assert.deepEqual(reached, []);
          } finally {
            await down.close();
          }
        }
      } finally {
        ends.close();
      }
    });
  });

  describe("Express middleware (after multer)", () => {
    let reached: string[];
    let uploads: string;
    const gated = (storage: "disk" | "memory", gateClient: Pick<ScanClient, "upload">) => {
      const app = express();
      const upload = multer(storage === "disk" ? { dest: uploads } : { storage: multer.memoryStorage() });
      app.post("/upload", upload.any(), expressScanGate({ client: gateClient, waitSeconds: 30 }), (req, res) => {
        reached.push(...(req.scannedFiles ?? []).map((f) => f.name));
        res.json({ stored: (req.scannedFiles ?? []).map((f) => ({ name: f.name, status: f.result.status })) });
      });
      return serve(app);
    };
    before(async () => {
      uploads = await mkdtemp(path.join(os.tmpdir(), "msd-express-uploads-"));
    });
    after(() => rm(uploads, { recursive: true, force: true }));

    for (const storage of ["disk", "memory"] as const) {
      it(`${storage} storage: clean passes with its verdict; infected is 422 and never reaches the handler`, async () => {
        const app = await gated(storage, client);
        try {
          reached = [];
          const ok = await post(`${app.url}/upload`, { image: ["IM1.dcm", clean] });
          assert.equal(ok.status, 200);
          assert.deepEqual(ok.body.stored, [{ name: "IM1.dcm", status: "clean" }]);
          const kept = await readdir(uploads);
          reached = [];
          const bad = await post(`${app.url}/upload`, { image: ["IM1.dcm", clean], attachment: ["notes.txt", eicar()] });
          assert.equal(bad.status, 422);
          assert.equal((bad.body.error as { code: string; status: string }).status, "infected");
          assert.deepEqual(reached, []);
          assert.deepEqual((await readdir(uploads)).sort(), kept.sort(), "only the clean upload's file is left, for the application");
        } finally {
          await app.close();
        }
      });
    }

    it("an unreachable scanner is 503", async () => {
      const ends = await deadEnds();
      const app = await gated("memory", new ScanClient({ baseUrl: ends.refused, apiKey: "k", retries: 0 }));
      try {
        reached = [];
        const res = await post(`${app.url}/upload`, { image: ["IM1.dcm", clean] });
        assert.equal(res.status, 503);
        assert.deepEqual(reached, []);
      } finally {
        await app.close();
        ends.close();
      }
    });
  });

  it("the package builds on its own: tsc emits dist/ with types for its three entry points", async () => {
    const { execFileSync } = await import("node:child_process");
    const dist = path.join(import.meta.dirname, "../../client/dist");
    try {
      execFileSync(process.execPath, [path.join(import.meta.dirname, "../../node_modules/typescript/bin/tsc"), "-p", path.join(import.meta.dirname, "../../client/tsconfig.json")], { stdio: "pipe" });
      for (const entry of ["index", "koa", "express"]) {
        await access(path.join(dist, `${entry}.js`));
        await access(path.join(dist, `${entry}.d.ts`));
      }
      const { ScanClient: Built } = (await import(path.join(dist, "index.js"))) as { ScanClient: typeof ScanClient };
      const built = new Built({ baseUrl: appliance.base, apiKey: "wrong" });
      await assert.rejects(built.file("x"), (err: Error) => err.name === "ScanApiError");
    } finally {
      await rm(dist, { recursive: true, force: true });
    }
  });

  it("a refused connection is a ScanUnavailableError after the retries", async () => {
    const ends = await deadEnds();
    ends.close();
    const down = new ScanClient({ baseUrl: ends.refused, apiKey: "k", retries: 2, retryBaseMs: 10 });
    await assert.rejects(down.file("x"), ScanUnavailableError);
  });
});
