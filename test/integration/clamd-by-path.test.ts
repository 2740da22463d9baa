import assert from "node:assert/strict";
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../../app/config.ts";
import { ClamdClient } from "../../app/engines/clamav/clamd-client.ts";
import { ClamavScanner } from "../../app/engines/clamav/clamav-scanner.ts";
import { EngineError } from "../../app/errors/engine-error.ts";
import { FileStorage } from "../../app/intake/file-storage.ts";
import type { ScanContext, ScanTarget } from "../../app/scan/scanner.ts";
import { createScanEngine } from "../../app/scan-engine.ts";
import type { Logger } from "../../app/log.ts";
import { MISBEHAVIOURS, SESSION_MISBEHAVIOURS, startBrokenClamd } from "../harness/broken-clamd.ts";
import { CLAM_EXE, ClamdInstance } from "../harness/clamd.ts";
import { GatedProxy } from "../harness/gated-proxy.ts";
import { buildDicom } from "../fixtures/dicom.ts";
import { eicar } from "../fixtures/eicar.ts";

function contextFor(file: string): ScanContext {
  const target: ScanTarget = { label: "file", path: file, role: "file" };
  return {
    request: { path: file, tier: "free" },
    file: target,
    targets: [target],
    facts: undefined,
    workDir: () => Promise.reject(new Error("clamav makes no folder")),
    workDirPath: "",
    signal: AbortSignal.timeout(30_000),
    progress: () => {},
  };
}

describe("CLAMAV_SCAN_MODE: clamd reads stored files itself", () => {
  let clamd: ClamdInstance;
  let proxy: GatedProxy;
  let dir: string;
  let shared: string;
  before(async () => {
    clamd = await ClamdInstance.start();
    proxy = await GatedProxy.start(clamd.port);
    dir = await mkdtemp(path.join(os.tmpdir(), "msd-bypath-"));
    shared = path.join(dir, "data", "files");
    await mkdir(shared, { recursive: true });
  });
  after(async () => {
    proxy.close();
    await clamd.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  const scanner = (port: number, refused: string[] = []) =>
    new ClamavScanner(new ClamdClient({ host: "127.0.0.1", port, timeoutMs: 5000 }), { sharedDir: shared, onPathRefused: (reply) => refused.push(reply) });
  const place = async (name: string, data: Buffer, folder = shared) => {
    const file = path.join(folder, name);
    await writeFile(file, data);
    return file;
  };

  it("by default only a clamd on this machine is asked to read files, and either mode can be set", () => {
    assert.equal(loadConfig({}).clamav.scanMode, "path");
    assert.equal(loadConfig({ CLAMAV_HOST: "localhost" }).clamav.scanMode, "path");
    assert.equal(loadConfig({ CLAMAV_HOST: "::1" }).clamav.scanMode, "path");
    assert.equal(loadConfig({ CLAMAV_HOST: "clamav.internal" }).clamav.scanMode, "stream");
    assert.equal(loadConfig({ CLAMAV_SCAN_MODE: "stream" }).clamav.scanMode, "stream");
    assert.equal(loadConfig({ CLAMAV_HOST: "clamav.internal", CLAMAV_SCAN_MODE: "path" }).clamav.scanMode, "path");
    assert.throws(() => loadConfig({ CLAMAV_SCAN_MODE: "fd" }), /CLAMAV_SCAN_MODE="fd"/);
  });

  it("a stored file is scanned by path (SCAN), anything else is streamed (INSTREAM); the real clamd gives the same verdicts", async () => {
    const s = scanner(proxy.port);
    const before = proxy.commands.length;
    assert.deepEqual((await s.scan(contextFor(await place("clean", buildDicom())))).findings, []);
    const found = (await s.scan(contextFor(await place("bad", await readFile(CLAM_EXE))))).findings;
    assert.deepEqual(found.map((f) => [f.id, f.verdict]), [["clam.exe.UNOFFICIAL", "infected"]]);
    const outside = await place("outside", buildDicom(), dir);
    assert.deepEqual((await s.scan(contextFor(outside))).findings, []);
    // A path that only starts like the folder's name is not inside it.
    await mkdir(`${shared}-not`, { recursive: true });
    assert.deepEqual((await s.scan(contextFor(await place("near", buildDicom(), `${shared}-not`)))).findings, []);
    // A clean SCAN answer is trusted once clamd answers a PING sent after it (see the stopping tests).
    assert.deepEqual(proxy.commands.slice(before), ["zSCAN", "zPING", "zSCAN", "zINSTREAM", "zINSTREAM"]);
  });

  it("SCAN, PING and VERSION go over kept IDSESSION connections: twenty scans in a row take one, eight at once no more than eight", async () => {
    const client = new ClamdClient({ host: "127.0.0.1", port: proxy.port, timeoutMs: 5000 });
    const s = new ClamavScanner(client, { sharedDir: shared });
    try {
      const files = await Promise.all(Array.from({ length: 20 }, (_, i) => place(`kept-${i}`, buildDicom())));
      const before = proxy.connections;
      assert.match(await client.command("VERSION", AbortSignal.timeout(5000)), /^ClamAV /);
      for (const file of files) assert.deepEqual((await s.scan(contextFor(file))).findings, []);
      const found = (await s.scan(contextFor(await place("kept-bad", await readFile(CLAM_EXE))))).findings;
      assert.deepEqual(found.map((f) => f.id), ["clam.exe.UNOFFICIAL"]);
      assert.equal(proxy.connections - before, 1);
      const atOnce = proxy.connections;
      await Promise.all(files.slice(0, 8).map(async (file) => assert.deepEqual((await s.scan(contextFor(file))).findings, [])));
      assert.ok(proxy.connections - atOnce <= 8, `${proxy.connections - atOnce} connections for 8 scans at once`);
    } finally {
      client.close();
    }
  });

  it("an unused session that clamd ends as a command goes out (its IdleTimeout, a restart): the command goes out again on a new connection", async () => {
    const client = new ClamdClient({ host: "127.0.0.1", port: proxy.port, timeoutMs: 5000 });
    try {
      assert.match(await client.command("VERSION", AbortSignal.timeout(5000)), /^ClamAV /);
      const before = proxy.connections;
      proxy.dropNextReusedSession();
      const found = (await new ClamavScanner(client, { sharedDir: shared }).scan(contextFor(await place("retried", await readFile(CLAM_EXE))))).findings;
      assert.deepEqual(found.map((f) => f.id), ["clam.exe.UNOFFICIAL"]);
      assert.equal(proxy.connections - before, 1);
    } finally {
      client.close();
    }
  });

  it("a stored file is readable by the app's group, its folder too; bytes still arriving are not", async () => {
    const storage = new FileStorage(path.join(dir, "store"));
    await storage.init();
    assert.equal((await stat(storage.filesDir)).mode & 0o777, 0o750);
    assert.equal((await stat(storage.incomingDir)).mode & 0o777, 0o700);
    const received = await storage.receiveCopy(await place("source", buildDicom(), dir));
    const stored = await storage.place(received.path, "f1");
    assert.equal((await stat(stored)).mode & 0o777, 0o640);
  });

  it("a clamd that may not read a stored file (run as clamav, the file the app's alone) gets it streamed, and says so once", async () => {
    assert.equal(process.getuid?.(), 0, "this test runs as root, as CI does, to start clamd as clamav");
    const asClamav = await ClamdInstance.start({ user: "clamav" });
    try {
      const refused: string[] = [];
      const s = scanner(asClamav.port, refused);
      await chmod(dir, 0o755);
      await chmod(path.dirname(shared), 0o755);
      await chmod(shared, 0o755);
      const secret = await place("secret", Buffer.alloc(0));
      await copyFile(CLAM_EXE, secret);
      await chmod(secret, 0o600);
      const found = (await s.scan(contextFor(secret))).findings;
      assert.deepEqual(found.map((f) => f.id), ["clam.exe.UNOFFICIAL"]);
      assert.deepEqual(refused, [`${secret}: Access denied. ERROR`]);
      await chmod(secret, 0o644);
      assert.deepEqual((await s.scan(contextFor(secret))).findings.map((f) => f.id), ["clam.exe.UNOFFICIAL"]);
      assert.equal(refused.length, 1, "read by path once clamd may");
      const gone = path.join(shared, "gone");
      await assert.rejects(s.scan(contextFor(gone)), /ENOENT/, "a stored file that is gone is an error, not clean");
    } finally {
      await asClamav.destroy();
    }
  });

  it("the worker's engine counts every stored file clamd may not read (for /metrics) and logs only the first", async () => {
    assert.equal(process.getuid?.(), 0, "this test runs as root, as CI does, to start clamd as clamav");
    const asClamav = await ClamdInstance.start({ user: "clamav" });
    const warnings: string[] = [];
    let refusals = 0;
    const log = { warn: (_fields: object, message: string) => void warnings.push(message) } as unknown as Pick<Logger, "warn">;
    const config = loadConfig({ ...asClamav.env(), DATA_DIR: path.dirname(shared), SCAN_TMP_DIR: path.join(dir, "tmp"), SCAN_ENGINE_THREADS: "1" });
    const engine = await createScanEngine(config, undefined, { log, onPathRefused: () => refusals++ });
    try {
      for (const folder of [dir, path.dirname(shared), shared]) await chmod(folder, 0o755);
      for (const name of ["private-1", "private-2"]) {
        const file = await place(name, await readFile(CLAM_EXE));
        await chmod(file, 0o600);
        const result = await engine.pipeline.scan({ path: file, tier: "free", bypassCache: true });
        assert.equal(result.status, "infected", "streamed instead, and still found");
      }
      assert.equal(refusals, 2);
      assert.deepEqual(warnings, ["clamd may not read the stored files, so they are streamed to it; see CLAMAV_SCAN_MODE in docs/configuration.md"]);
    } finally {
      await engine.close();
      await asClamav.destroy();
    }
  });

  for (const [mode, code] of [...MISBEHAVIOURS, ...SESSION_MISBEHAVIOURS]) {
    it(`a clamd that is ${mode} when asked to SCAN: ${code}, never clean`, async () => {
      const broken = await startBrokenClamd(mode);
      try {
        const s = new ClamavScanner(new ClamdClient({ host: "127.0.0.1", port: broken.port, timeoutMs: 800 }), { sharedDir: shared });
        await assert.rejects(s.scan(contextFor(await place(`broken-${mode}`, buildDicom()))), (err: unknown) => err instanceof EngineError && err.code === code);
      } finally {
        await broken.close();
      }
    });
  }

  it("a clamd that answers OK to a SCAN and then takes no more connections (as one stopping does): ENGINE_UNAVAILABLE, never clean", async () => {
    const stopping = await startBrokenClamd("stopping");
    try {
      const s = new ClamavScanner(new ClamdClient({ host: "127.0.0.1", port: stopping.port, timeoutMs: 800 }), { sharedDir: shared });
      await assert.rejects(s.scan(contextFor(await place("stopping", buildDicom()))), (err: unknown) => err instanceof EngineError && err.code === "ENGINE_UNAVAILABLE" && /stopped as it answered OK/.test(err.message));
    } finally {
      await stopping.close();
    }
  });

  it("a clamd that answers OK to a SCAN and then never answers the PING: ENGINE_UNAVAILABLE once the PING's deadline passes, never clean", async () => {
    const mute = await startBrokenClamd("ok-then-mute");
    try {
      const s = new ClamavScanner(new ClamdClient({ host: "127.0.0.1", port: mute.port, timeoutMs: 60_000 }), { sharedDir: shared });
      const started = performance.now();
      await assert.rejects(s.scan(contextFor(await place("mute", buildDicom()))), (err: unknown) => err instanceof EngineError && err.code === "ENGINE_UNAVAILABLE" && /stopped as it answered OK/.test(err.message));
      const waited = performance.now() - started;
      assert.ok(waited >= 4900 && waited < 15_000, `the PING's own 5 s deadline ended it (${Math.round(waited)} ms)`);
    } finally {
      await mute.close();
    }
  });

  it("the real clamd stopped (SIGTERM) amid SCANs of infected files: it answers OK for files it skipped, and none of them comes back clean", async () => {
    const own = await ClamdInstance.start();
    const files = await Promise.all(Array.from({ length: 24 }, (_, i) => place(`eicar-${i}`, Buffer.concat([eicar(), Buffer.from(`\n${i}`)]))));
    const outcomes: Record<string, number> = {};
    try {
      // Each round SIGTERMs clamd while 12 scans are in flight; clamd skips some of them and still
      // answers OK, a few times in ten rounds on the test machine. Rounds go on until one is seen.
      for (let round = 0; round < 40 && !outcomes["stopped as it answered OK"]; round++) {
        if (round > 0) await own.launch();
        const s = new ClamavScanner(new ClamdClient({ host: "127.0.0.1", port: own.port, timeoutMs: 5000 }), { sharedDir: shared });
        let stopping = false;
        const loops = Array.from({ length: 12 }, async (_, k) => {
          while (!stopping) {
            const outcome = await s.scan(contextFor(files[(k + Math.floor(Math.random() * files.length)) % files.length]!)).then(
              (r) => (r.findings.length === 0 ? "clean" : r.findings.map((f) => f.id).join(",")),
              (err: EngineError) => (/stopped as it answered OK/.test(err.message) ? "stopped as it answered OK" : err.code),
            );
            outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
          }
        });
        await new Promise((r) => setTimeout(r, 200 + Math.random() * 300));
        await own.stop();
        stopping = true;
        await Promise.all(loops);
      }
    } finally {
      await own.destroy();
    }
    assert.equal(outcomes.clean, undefined, JSON.stringify(outcomes));
    assert.ok(outcomes["Test.EICAR.UNOFFICIAL"]! > 0 && outcomes["stopped as it answered OK"]! > 0, JSON.stringify(outcomes));
  });

  it("an OK that names another file is no answer", async () => {
    const liar = new ClamavScanner(
      {
        scanFile: async (file) => `${file}.other: OK\0`,
        instream: () => Promise.reject(new Error("not streamed")),
        command: () => Promise.reject(new Error("no command")),
      },
      { sharedDir: shared },
    );
    await assert.rejects(liar.scan(contextFor(await place("liar", buildDicom()))), (err: unknown) => err instanceof EngineError && err.code === "ENGINE_PROTOCOL");
  });
});
