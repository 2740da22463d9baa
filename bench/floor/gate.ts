/**
 * The floor: the least a gate built on this project's stack must do for one upload, and nothing
 * more, so that `npm run bench:floor` can say what the stack itself costs per upload beside the
 * app on the same machine. Two programs, as the app: `intake` (Koa, @koa/router, koa-body's
 * formidable streaming the file to disk and hashing it, a bearer key looked up in SQLite, the
 * file fsynced and moved, one SQLite transaction for the file and its job, a Bull add, the
 * answer once the verdict is announced on Redis) and `worker` (Bull's processor, clamd `SCAN`
 * of the stored file, one SQLite transaction for the verdict, the announcement).
 *
 * Left out on purpose, as what the app adds to the floor: the audit trail, the daily counter,
 * validation and YARA-X in engine threads, quarantine, live stats, metrics, WebSocket events,
 * the confirming PING, group commit, deadlines and every error path.
 *
 * Two lower steps, each one program that answers `clean` without scanning, say what the
 * intake's first stages cost alone: `http` (Node's HTTP server reading the request and dropping
 * it) and `receive` (Koa, @koa/router and koa-body's formidable writing the file to disk, flushed,
 * and hashing it).
 *
 * FLOOR_DIR (the SQLite file and the stored files), FLOOR_REDIS (redis://…), FLOOR_CLAMD_PORT,
 * FLOOR_PORT (intake), FLOOR_KEY (the one bearer key the intake accepts).
 */
import { createHash, randomUUID } from "node:crypto";
import { createWriteStream, fsyncSync, openSync, closeSync, renameSync, mkdirSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { finished } from "node:stream/promises";
import Router from "@koa/router";
import Database from "better-sqlite3";
import Bull from "bull";
import Koa from "koa";
import { koaBody } from "koa-body";
import { createClient } from "redis";

interface Job {
  readonly fileId: string;
  readonly path: string;
}

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const dir = env("FLOOR_DIR");
const redisUrl = env("FLOOR_REDIS");
const CHANNEL = "floor:verdicts";

function openDb(): Database.Database {
  const db = new Database(path.join(dir, "floor.db"));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("busy_timeout = 5000");
  db.exec(`CREATE TABLE IF NOT EXISTS keys (hash TEXT PRIMARY KEY, user_id TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS files (id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, name TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL, stored_path TEXT NOT NULL, state TEXT NOT NULL, created_at TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, file_id TEXT NOT NULL, status TEXT, updated_at TEXT NOT NULL);`);
  return db;
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const CLEAN = JSON.stringify({ result: { status: "clean" } });

/** koa-body's formidable streams the `file` field to a new file under incoming/, flushed and hashed. */
async function receiveFile(ctx: Koa.Context) {
  const incoming = path.join(dir, "incoming", randomUUID());
  const written: ReturnType<typeof createWriteStream>[] = [];
  await koaBody({
    multipart: true,
    formidable: {
      fileWriteStreamHandler: () => {
        written.push(createWriteStream(incoming, { flush: true, mode: 0o644 }));
        return written.at(-1)!;
      },
      filename: () => "upload",
      maxFiles: 1,
      hashAlgorithm: "sha256",
    },
  })(ctx, async () => {});
  await finished(written[0]!);
  return { incoming, file: ctx.request.files!.file as unknown as { size: number; hash: string; originalFilename: string } };
}

function listen(router: Router): void {
  new Koa().use(router.routes()).listen(Number(env("FLOOR_PORT")), "127.0.0.1");
}

/** The `http` step: Node's HTTP server reads each request whole and answers clean. */
function httpOnly(): void {
  http
    .createServer((req, res) => {
      req.resume();
      req.on("end", () => res.writeHead(200, { "content-type": "application/json" }).end(CLEAN));
    })
    .listen(Number(env("FLOOR_PORT")), "127.0.0.1");
}

/** The `receive` step: Koa and koa-body store the file and the answer is clean, with no key, record or queue. */
function receiveOnly(): void {
  mkdirSync(path.join(dir, "incoming"), { recursive: true });
  const router = new Router();
  router.post("/upload", async (ctx) => {
    await receiveFile(ctx);
    ctx.type = "json";
    ctx.body = CLEAN;
  });
  listen(router);
}

async function intake(): Promise<void> {
  const db = openDb();
  db.prepare("INSERT OR IGNORE INTO keys (hash, user_id) VALUES (?, ?)").run(sha256(env("FLOOR_KEY")), "floor");
  const findKey = db.prepare<[string], { user_id: string }>("SELECT user_id FROM keys WHERE hash = ?");
  const insertFile = db.prepare("INSERT INTO files (id, owner_id, name, size, sha256, stored_path, state, created_at) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?)");
  const insertJob = db.prepare("INSERT INTO jobs (id, file_id, status, updated_at) VALUES (?, ?, NULL, ?)");
  const accept = db.transaction((job: { id: string; fileId: string; owner: string; name: string; size: number; sha256: string; path: string }) => {
    const now = new Date().toISOString();
    insertFile.run(job.fileId, job.owner, job.name, job.size, job.sha256, job.path, now);
    insertJob.run(job.id, job.fileId, now);
  });
  const queue = new Bull<Job>("floor", redisUrl);
  const waiting = new Map<string, (status: string) => void>();
  const subscriber = createClient({ url: redisUrl });
  await subscriber.connect();
  await subscriber.subscribe(CHANNEL, (message) => {
    const { jobId, status } = JSON.parse(message) as { jobId: string; status: string };
    waiting.get(jobId)?.(status);
  });
  mkdirSync(path.join(dir, "incoming"), { recursive: true });
  mkdirSync(path.join(dir, "files"), { recursive: true, mode: 0o755 });

  const router = new Router();
  router.post("/upload", async (ctx) => {
    const key = /^Bearer (.+)$/.exec(ctx.get("authorization"))?.[1];
    const owner = key ? findKey.get(sha256(key))?.user_id : undefined;
    if (!owner) {
      ctx.status = 401;
      ctx.body = { error: "UNAUTHENTICATED" };
      return;
    }
    const { incoming, file } = await receiveFile(ctx);
    const fileId = randomUUID();
    const jobId = randomUUID();
    const stored = path.join(dir, "files", fileId);
    renameSync(incoming, stored);
    const folder = openSync(path.join(dir, "files"), "r");
    fsyncSync(folder);
    closeSync(folder);
    accept({ id: jobId, fileId, owner, name: file.originalFilename, size: file.size, sha256: file.hash, path: stored });
    const verdict = new Promise<string>((resolve) => waiting.set(jobId, resolve));
    await queue.add({ fileId, path: stored }, { jobId, removeOnComplete: 1000 });
    const status = await verdict;
    waiting.delete(jobId);
    ctx.body = { fileId, jobId, result: { status } };
  });
  listen(router);
}

/** clamd's answer to `SCAN path`, on a connection of its own (as the app's first scan of a session). */
function clamdScan(port: number, file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, "127.0.0.1", () => socket.end(`zSCAN ${file}\0`));
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("end", () => resolve(Buffer.concat(chunks).toString("utf8").replace(/\0$/, "")));
    socket.on("error", reject);
  });
}

async function worker(): Promise<void> {
  const db = openDb();
  const clamdPort = Number(env("FLOOR_CLAMD_PORT"));
  const updateJob = db.prepare("UPDATE jobs SET status = ?, updated_at = ? WHERE id = ?");
  const updateFile = db.prepare("UPDATE files SET state = ? WHERE id = ?");
  const setVerdict = db.transaction((jobId: string, fileId: string, status: string) => {
    updateJob.run(status, new Date().toISOString(), jobId);
    updateFile.run(status === "clean" ? "stored" : "quarantined", fileId);
  });
  const publisher = createClient({ url: redisUrl });
  await publisher.connect();
  const queue = new Bull<Job>("floor", redisUrl);
  void queue.process(8, async (job) => {
    const reply = await clamdScan(clamdPort, job.data.path);
    const status = reply.endsWith(" OK") ? "clean" : reply.endsWith(" FOUND") ? "infected" : "error";
    setVerdict(String(job.id), job.data.fileId, status);
    await publisher.publish(CHANNEL, JSON.stringify({ jobId: job.id, status }));
    return status;
  });
}

const role = process.argv[2];
if (role === "intake") await intake();
else if (role === "worker") await worker();
else if (role === "http") httpOnly();
else if (role === "receive") receiveOnly();
else throw new Error("usage: gate.ts intake|worker|http|receive");
