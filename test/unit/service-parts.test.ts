import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs, { existsSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { finished, pipeline } from "node:stream/promises";
import { describe, it } from "node:test";
import { loadConfig } from "../../app/config.ts";
import { ConfigError } from "../../app/errors/config-error.ts";
import { fileNameProblem, sanitiseName } from "../../app/intake/sanitise-name.ts";
import { DurableWriteStream, FolderSync, fsyncPathSync } from "../../app/intake/durable-fs.ts";
import { removeScratch, scratchDir, scratchPath, sweepScratch } from "../../app/scan/scratch.ts";
import { WarmLanes } from "../../app/scan/warm-lanes.ts";

describe("sanitiseName", () => {
  const cases: [string, string][] = [
    ["scan.dcm", "scan.dcm"],
    ["../../etc/passwd", "passwd"],
    ["C:\\Windows\\evil.exe", "evil.exe"],
    ["/abs/path/x.pdf", "x.pdf"],
    ["a\u0000b\r\nc.dcm", "abc.dcm"],
    ["report\u202Efdp.exe", "reportfdp.exe"],
    ["..hidden", "hidden"],
    ["", "unnamed"],
    ["../", "unnamed"],
  ];
  for (const [input, expected] of cases) it(`${JSON.stringify(input)} -> ${JSON.stringify(expected)}`, () => assert.equal(sanitiseName(input), expected));

  it("caps names at 255 UTF-8 bytes without splitting a character", () => {
    const name = sanitiseName("é".repeat(1000));
    assert.ok(Buffer.byteLength(name) <= 255);
    assert.ok(!name.includes("\uFFFD"));
  });
});

describe("fileNameProblem", () => {
  it("refuses control and bidi characters, folders, drive letters and names over 255 bytes; takes ordinary names", () => {
    for (const bad of ["a\u0000.dcm", "a\r\n.dcm", "scan\u202emcd.exe", "../x.dcm", "/etc/x.dcm", "dir\\x.dcm", "C:x.dcm", "..", `${"a".repeat(252)}.dcm`]) {
      assert.ok(fileNameProblem(bad), JSON.stringify(bad));
    }
    for (const good of ["IM0001.dcm", "1.2.840.113619.2.55.3", "Befund Müller.pdf", "血液検査.hl7", `${"a".repeat(251)}.dcm`]) assert.equal(fileNameProblem(good), null, good);
  });
});

describe("scratch folders", () => {
  it("a sweep removes folders of dead processes of this host and old ones of other hosts, nothing else", async () => {
    const parent = await mkdtemp(path.join(os.tmpdir(), "msd-scratch-"));
    try {
      const deadPid = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout;
      const mine = await scratchDir(parent, "upload");
      const dead = path.join(parent, `upload@${os.hostname()}@${deadPid}@abcdef`);
      const otherFresh = path.join(parent, "scan@other-host@1@abcdef");
      const otherOld = path.join(parent, "scan@other-host@2@abcdef");
      const unrelated = path.join(parent, "rescans");
      for (const d of [dead, otherFresh, otherOld, unrelated]) await mkdir(d);
      const dayAgo = new Date(Date.now() - 25 * 3_600_000);
      await utimes(otherOld, dayAgo, dayAgo);
      assert.equal(await sweepScratch(parent, 24 * 3_600_000), 2);
      assert.deepEqual([mine, dead, otherFresh, otherOld, unrelated].map((d) => existsSync(d)), [true, false, true, false, true]);
      assert.equal(await sweepScratch(path.join(parent, "missing"), 1), 0);

      // A quarantine release killed midway leaves a decrypted file under its scratch name: swept too.
      const release = scratchPath(parent, "release").replace(`@${process.pid}@`, `@${deadPid}@`);
      await writeFile(release, "decrypted bytes of a killed release");
      assert.equal(await sweepScratch(parent, 24 * 3_600_000), 1);
      assert.equal(existsSync(release), false);
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });

  it("removeScratch removes a folder never made, an empty one, a full one and a file under the name", async () => {
    const parent = await mkdtemp(path.join(os.tmpdir(), "msd-scratch-"));
    try {
      const never = scratchPath(parent, "scan");
      await removeScratch(never);
      const empty = await scratchDir(parent, "scan");
      const full = await scratchDir(parent, "scan");
      await mkdir(path.join(full, "derived"));
      await writeFile(path.join(full, "derived", "member.bin"), "x");
      const file = scratchPath(parent, "scan");
      await writeFile(file, "x");
      for (const p of [empty, full, file]) await removeScratch(p);
      assert.deepEqual([never, empty, full, file].map((p) => existsSync(p)), [false, false, false, false]);
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });
});

describe("FolderSync", () => {
  it("the callers of one turn share one fsync on this thread, made after they all asked; a later call gets its own", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "msd-sync-"));
    const events: string[] = [];
    const folder = new FolderSync(dir, (d) => {
      events.push("fsync");
      fsyncPathSync(d);
    });
    try {
      const calls = Array.from({ length: 4 }, (_, i) => {
        events.push(`asked ${i}`);
        return folder.sync();
      });
      await Promise.all(calls);
      assert.deepEqual(events, ["asked 0", "asked 1", "asked 2", "asked 3", "fsync"]);
      await folder.sync();
      assert.equal(events.filter((e) => e === "fsync").length, 2);
      await assert.rejects(new FolderSync(path.join(dir, "missing")).sync(), { code: "ENOENT" });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("WarmLanes", () => {
  /** A task that runs until `end` is called, recording that it started and when. */
  const held = (started: string[], name: string) => {
    let end!: () => void;
    const done = new Promise<void>((resolve) => (end = resolve));
    const h = {
      end,
      startedAt: NaN,
      task: () => {
        started.push(name);
        h.startedAt = performance.now();
        return done;
      },
    };
    return h;
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const until = async (done: () => boolean) => {
    for (let i = 0; !done(); i++) {
      if (i > 500) throw new Error("timed out");
      await sleep(5);
    }
  };

  it("a task waits while the lanes hold young tasks, and starts as soon as one ends", async () => {
    const lanes = new WarmLanes(2, 10_000);
    const started: string[] = [];
    const [a, b, c] = [held(started, "a"), held(started, "b"), held(started, "c")];
    const runs = [lanes.run(a.task), lanes.run(b.task), lanes.run(c.task)];
    await sleep(50);
    assert.deepEqual(started, ["a", "b"]);
    b.end();
    await until(() => started.length === 3);
    a.end();
    c.end();
    await Promise.all(runs);
  });

  it("a task held past the age no longer holds the others back: the next starts once it comes of age, not before", async () => {
    const lanes = new WarmLanes(1, 300);
    const started: string[] = [];
    const [hostile, small, next] = [held(started, "hostile"), held(started, "small"), held(started, "next")];
    const t0 = performance.now();
    const runs = [hostile, small, next].map((h) => lanes.run(h.task));
    await until(() => started.length === 2);
    assert.deepEqual(started, ["hostile", "small"], "the next waits for the small one, which is young");
    const at = small.startedAt - t0;
    assert.ok(at >= 295 && at < 2000, `the small task started at ${at} ms`);
    small.end();
    await until(() => started.length === 3);
    hostile.end();
    next.end();
    await Promise.all(runs);
  });

  it("a task that fails frees its lane", async () => {
    const lanes = new WarmLanes(1, 10_000);
    await assert.rejects(lanes.run(() => Promise.reject(new Error("boom"))), /boom/);
    assert.equal(await lanes.run(() => Promise.resolve(7)), 7);
  });
});

describe("DurableWriteStream", () => {
  /** Counts fdatasync and fsync calls while `work` runs. */
  async function countingSyncs<T>(work: () => Promise<T>): Promise<{ value: T; datasyncs: number; syncs: number }> {
    const { fdatasync, fsync } = fs;
    const counts = { datasyncs: 0, syncs: 0 };
    fs.fdatasync = ((...args: Parameters<typeof fdatasync>) => {
      counts.datasyncs++;
      fdatasync(...args);
    }) as typeof fdatasync;
    fs.fsync = ((...args: Parameters<typeof fsync>) => {
      counts.syncs++;
      fsync(...args);
    }) as typeof fsync;
    try {
      return { value: await work(), ...counts };
    } finally {
      Object.assign(fs, { fdatasync, fsync });
    }
  }

  it("writes every byte with its mode, flushes every step on the way and syncs once before 'finish'", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "msd-durable-"));
    try {
      const file = path.join(dir, "big");
      const data = randomBytes(5 * 64 * 1024 + 123);
      const { datasyncs, syncs } = await countingSyncs(() => pipeline(Readable.from(chunksOf(data, 64 * 1024)), new DurableWriteStream(file, { mode: 0o640, syncStepBytes: 128 * 1024 })));
      assert.ok((await readFile(file)).equals(data));
      assert.equal((await stat(file)).mode & 0o777, 0o640 & ~process.umask());
      assert.equal(datasyncs, 2, "one per 128 KB written, in chunks of up to 64 KB");
      assert.equal(syncs, 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("fails where it may not make the file (wx on an existing one, a missing folder), leaves an existing file as it was, and can be destroyed before it opened", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "msd-durable-"));
    try {
      const existing = path.join(dir, "existing");
      await writeFile(existing, "kept");
      await assert.rejects(pipeline(Readable.from([Buffer.from("x")]), new DurableWriteStream(existing, { mode: 0o600, flags: "wx" })), { code: "EEXIST" });
      assert.equal(await readFile(existing, "utf8"), "kept");
      await assert.rejects(pipeline(Readable.from([Buffer.from("x")]), new DurableWriteStream(path.join(dir, "none", "f"), { mode: 0o600 })), { code: "ENOENT" });
      const early = new DurableWriteStream(path.join(dir, "early"), { mode: 0o600 });
      await finished(early.destroy()).catch(() => undefined);
      assert.equal(early.destroyed, true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

function* chunksOf(data: Buffer, size: number): Generator<Buffer> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
}

describe("service configuration", () => {
  it("derives the job timeout above the slowest scan and the lock above the job", () => {
    const c = loadConfig({});
    assert.equal(c.queue.jobTimeoutMs, 120_000 + 151_000 + 10_000);
    assert.ok(c.queue.lockDurationMs > c.queue.jobTimeoutMs);
    assert.equal(c.queue.concurrency, 8, "twice clamd's MaxThreads");
    assert.equal(c.engineThreads, 8, "one per job in flight");
    assert.equal(c.redis.url, "redis://127.0.0.1:6379");
  });

  it("refuses a job timeout under clamd's or a lock under the job's, naming the variable", () => {
    assert.throws(() => loadConfig({ CLAMAV_TIMEOUT_MS: "5000", SCAN_JOB_TIMEOUT_MS: "4000", SCAN_LOCK_DURATION_MS: "9000" }), (e: unknown) => e instanceof ConfigError && /SCAN_JOB_TIMEOUT_MS=4000/.test(e.message));
    assert.throws(() => loadConfig({ SCAN_JOB_TIMEOUT_MS: "300000", SCAN_LOCK_DURATION_MS: "200000" }), (e: unknown) => e instanceof ConfigError && /SCAN_LOCK_DURATION_MS=200000/.test(e.message));
  });

  it("builds the Redis URL from host, port and password, or takes REDIS_URL", () => {
    assert.equal(loadConfig({ REDIS_HOST: "redis", REDIS_PORT: "6380", REDIS_PASSWORD: "p@ss word" }).redis.url, "redis://:p%40ss%20word@redis:6380");
    assert.equal(loadConfig({ REDIS_URL: "redis://cache:7000/2" }).redis.url, "redis://cache:7000/2");
    assert.throws(() => loadConfig({ REDIS_URL: "http://x" }), /REDIS_URL/);
  });

  it("takes a 256-bit quarantine key in hex and nothing else", () => {
    assert.equal(loadConfig({ QUARANTINE_ENCRYPTION_KEY: "0f".repeat(32) }).quarantine.encryptionKey?.length, 32);
    assert.throws(() => loadConfig({ QUARANTINE_ENCRYPTION_KEY: "short" }), /QUARANTINE_ENCRYPTION_KEY/);
  });
});
