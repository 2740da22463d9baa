import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { bearerToken } from "../../app/auth/api-keys.ts";
import { toApiError } from "../../app/api/error-middleware.ts";
import { AuthError } from "../../app/errors/auth-error.ts";
import { SubmitRejectedError } from "../../app/errors/submit-rejected-error.ts";
import { ROOT } from "../harness/clamd.ts";
import { createLogger, ERROR_LOG_FILE, LOG_FILE, logLevelFrom, QUEUE_COMPONENT, QUEUE_ERROR_LOG_FILE, QUEUE_LOG_FILE } from "../../app/log.ts";

describe("API parts", () => {
  it("reads only a well-formed Bearer header", () => {
    assert.equal(bearerToken("Bearer msd_abc"), "msd_abc");
    assert.equal(bearerToken("bearer msd_abc"), "msd_abc");
    for (const bad of [undefined, "", "Basic xyz", "Bearer", "Bearer a b", "Bearer  a"]) assert.equal(bearerToken(bad), undefined, String(bad));
  });

  it("maps errors to one status and code each, and hides what a 500 was about", () => {
    assert.deepEqual([toApiError(new AuthError("REVOKED_API_KEY")).status, toApiError(new AuthError("REVOKED_API_KEY")).code], [401, "INVALID_API_KEY"]);
    const limit = toApiError(new SubmitRejectedError("DAILY_LIMIT", "x", 3600));
    assert.deepEqual([limit.status, limit.headers["Retry-After"]], [429, "3600"]);
    const internal = toApiError(new Error("SQLITE_CORRUPT at /var/data/scan-daemon.sqlite"));
    assert.equal(internal.status, 500);
    assert.ok(!internal.message.includes("SQLITE"));
  });

  it("writes logs to scan-daemon.log and errors also to scan-errors.log", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "msd-logs-"));
    try {
      const log = createLogger("info", dir);
      log.info({ jobId: "j1" }, "verdict");
      log.error({ jobId: "j2" }, "quarantine move failed");
      const all = (await readFile(path.join(dir, LOG_FILE), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { msg: string });
      const errors = (await readFile(path.join(dir, ERROR_LOG_FILE), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { msg: string });
      assert.deepEqual(all.map((l) => l.msg), ["verdict", "quarantine move failed"]);
      assert.deepEqual(errors.map((l) => l.msg), ["quarantine move failed"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("with a log folder, stdout still gets every line, in batches: a lone one within a second, the rest as the process exits", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "msd-logs-"));
    const code = `const { createLogger } = await import(${JSON.stringify(path.join(ROOT, "app/log.ts"))});
      const log = createLogger("info", ${JSON.stringify(dir)});
      log.info("one");
      await new Promise((r) => setTimeout(r, 3000));
      log.info("two");
      log.info("three");`;
    try {
      const chunks: { at: number; text: string }[] = [];
      const started = performance.now();
      await new Promise<void>((resolve, reject) => {
        const child = execFile(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], (err, _stdout, stderr) => (err ? reject(new Error(`${err.message}${stderr}`)) : resolve()));
        child.stdout!.on("data", (d: Buffer) => chunks.push({ at: performance.now() - started, text: d.toString() }));
      });
      const messages = (text: string) => text.trim().split("\n").map((l) => (JSON.parse(l) as { msg: string }).msg);
      const one = chunks.find((c) => c.text.includes('"one"'));
      assert.ok(one && one.at < chunks.at(-1)!.at - 2000, `"one" came before the pause ended: ${JSON.stringify(chunks)}`);
      assert.deepEqual(messages(chunks.map((c) => c.text).join("")), ["one", "two", "three"]);
      assert.deepEqual(messages(await readFile(path.join(dir, LOG_FILE), "utf8")), ["one", "two", "three"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("queue lines also go to queue.log, failed jobs to queue-errors.log; files rotate by size; DEBUG and VERBOSE raise the level", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "msd-logs-"));
    try {
      const log = createLogger("info", dir, { maxBytes: 2000, keep: 2 });
      const queue = log.child(QUEUE_COMPONENT);
      log.info("api started");
      queue.info({ jobId: "j1" }, "verdict");
      queue.error({ jobId: "j2" }, "job failed");
      const lines = async (name: string) => (await readFile(path.join(dir, name), "utf8")).trim().split("\n").map((l) => (JSON.parse(l) as { msg: string }).msg);
      assert.deepEqual(await lines(QUEUE_LOG_FILE), ["verdict", "job failed"]);
      assert.deepEqual(await lines(QUEUE_ERROR_LOG_FILE), ["job failed"]);
      for (let i = 0; i < 100; i++) log.info({ i }, "filler line to make the file rotate");
      const files = (await readdir(dir)).filter((f) => f.startsWith(LOG_FILE)).sort();
      assert.deepEqual(files, [LOG_FILE, `${LOG_FILE}.1`, `${LOG_FILE}.2`], "two rotated generations kept");
      for (const f of files) assert.ok((await stat(path.join(dir, f))).size <= 2000);
      assert.equal(logLevelFrom({ DEBUG: "scan-daemon:*" }), "debug");
      assert.equal(logLevelFrom({ VERBOSE: "true" }), "debug");
      assert.equal(logLevelFrom({ DEBUG: "express:*" }), "info");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("three processes appending to one log (intake, worker, CLI) lose no line and write none twice while they rotate it", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "msd-logs-"));
    const file = path.join(dir, LOG_FILE);
    const maxBytes = 4000;
    const writer = (name: string) =>
      new Promise<void>((resolve, reject) => {
        const code = `const { RotatingFile } = await import(${JSON.stringify(path.join(ROOT, "app/rotating-file.ts"))});
          const out = new RotatingFile(${JSON.stringify(file)}, { maxBytes: ${maxBytes}, keep: 500 });
          const pause = new Int32Array(new SharedArrayBuffer(4));
          for (let i = 0; i < 3000; i++) {
            out.write(JSON.stringify({ writer: "${name}", i, pad: "x".repeat(i % 40) }) + "\\n");
            if (i % 20 === 0) Atomics.wait(pause, 0, 0, 1);
          }`;
        execFile(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], (err, _stdout, stderr) => (err ? reject(new Error(`${err.message}${stderr}`)) : resolve()));
      });
    try {
      const ended = await Promise.allSettled(["intake", "worker", "cli"].map(writer));
      assert.deepEqual(ended.filter((e) => e.status === "rejected"), [], "no writer failed");
      const seen = new Map<string, number>();
      const files = await readdir(dir);
      // About 150 files' worth; a file grows past its size while another writer holds the rotation.
      assert.ok(files.length > 75 && !files.includes(`${LOG_FILE}.rotating`), files.join(" "));
      for (const name of files) {
        const text = await readFile(path.join(dir, name), "utf8");
        for (const line of text.trim().split("\n")) {
          const { writer: who, i } = JSON.parse(line) as { writer: string; i: number };
          seen.set(`${who}:${i}`, (seen.get(`${who}:${i}`) ?? 0) + 1);
        }
      }
      assert.equal(seen.size, 9000, "every line is in some file");
      assert.deepEqual([...seen.values()].filter((n) => n !== 1), [], "no line twice");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
