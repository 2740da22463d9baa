import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../../app/config.ts";
import { RulesCompileError } from "../../app/errors/rules-compile-error.ts";
import { createScanEngine } from "../../app/scan-engine.ts";
import { TIERS } from "../../app/verdict/tiers.ts";
import { MISBEHAVIOURS, startBrokenClamd } from "../harness/broken-clamd.ts";
import { GatedProxy } from "../harness/gated-proxy.ts";
import { freePort } from "../harness/ports.ts";
import { describeResult, startScanStack, withScanEngine, type ScanStack } from "../harness/scan-stack.ts";
import { buildDicom } from "../fixtures/dicom.ts";

describe("fail closed: no definite answer is never clean", () => {
  let stack: ScanStack;
  let cleanFile: string;
  before(async () => {
    stack = await startScanStack();
    cleanFile = await stack.file("study.dcm", buildDicom());
  });
  after(() => stack.close());

  async function scanAgainst(port: number, timeoutMs = 1500) {
    const config = loadConfig({ CLAMAV_HOST: "127.0.0.1", CLAMAV_PORT: String(port), CLAMAV_TIMEOUT_MS: String(timeoutMs), SCAN_TMP_DIR: path.join(stack.dir, "work2") });
    return withScanEngine(config, (engine) => Promise.all(TIERS.map((tier) => engine.pipeline.scan({ path: cleanFile, tier }))));
  }

  it("the same file is clean against the real clamd (the control)", async () => {
    for (const tier of TIERS) assert.equal((await stack.scan(cleanFile, tier)).status, "clean");
  });

  it("clamd stopped: error (ENGINE_UNAVAILABLE) at every tier", async () => {
    const port = await freePort();
    for (const r of await scanAgainst(port)) {
      assert.equal(r.status, "error", describeResult(r));
      assert.equal(r.engines.clamav?.error?.code, "ENGINE_UNAVAILABLE");
      assert.equal(r.engines.clamav?.error?.retryable, true);
      assert.match(r.engines.clamav?.error?.message ?? "", /ECONNREFUSED <address>/, "the clamd address is not shown to clients");
      assert.ok(!JSON.stringify(r).includes(String(port)));
    }
  });

  for (const [mode, code] of MISBEHAVIOURS) {
    it(`a socket that is ${mode}: error (${code}) at every tier`, async () => {
      const broken = await startBrokenClamd(mode);
      try {
        const started = Date.now();
        for (const r of await scanAgainst(broken.port, 800)) {
          assert.equal(r.status, "error", describeResult(r));
          assert.equal(r.engines.clamav?.error?.code, code, describeResult(r));
        }
        assert.ok(Date.now() - started < 10_000, "the hard timeout bounds the wait");
      } finally {
        await broken.close();
      }
    });
  }

  it("clamd killed mid-batch: error, then clean again once it is back", async () => {
    await stack.clamd.stop();
    try {
      const r = await stack.scan(cleanFile, "free");
      assert.equal(r.status, "error", describeResult(r));
    } finally {
      await stack.clamd.launch();
    }
    assert.equal((await stack.scan(cleanFile, "free")).status, "clean");
  });

  it("one VERSION answer labels the scans of the next half second, but a cached clean is served only on a VERSION asked then: never once clamd is gone", async () => {
    const gate = await GatedProxy.start(stack.clamd.port);
    const config = loadConfig({ CLAMAV_HOST: "127.0.0.1", CLAMAV_PORT: String(gate.port), CLAMAV_TIMEOUT_MS: "1500", SCAN_TMP_DIR: path.join(stack.dir, "work4") });
    try {
      await withScanEngine(config, async (engine) => {
        const files = await Promise.all([1, 2, 3].map((i) => stack.file(`reuse-${i}.dcm`, buildDicom({ preamble: Buffer.alloc(128, i) }))));
        await engine.pipeline.scan({ path: files[2]!, tier: "premium" });
        const before = gate.commands.filter((c) => c === "zVERSION").length;
        const together = await Promise.all(files.map((file) => engine.pipeline.scan({ path: file, tier: "free" })));
        assert.deepEqual(together.map((r) => r.status), ["clean", "clean", "clean"]);
        assert.ok(gate.commands.filter((c) => c === "zVERSION").length - before <= 1, `scans started together share one VERSION: ${gate.commands.join(" ")}`);
        const asked = gate.commands.filter((c) => c === "zVERSION").length;
        const hit = await engine.pipeline.scan({ path: files[0]!, tier: "free" });
        assert.deepEqual([hit.status, hit.engines.clamav?.cached], ["clean", true]);
        // At least one: the hit's own fresh ask (a busy machine may also have outlived the half second before it).
        assert.ok(gate.commands.filter((c) => c === "zVERSION").length >= asked + 1, "the hit asked anew");
        gate.close();
        const gone = await engine.pipeline.scan({ path: files[1]!, tier: "free" });
        assert.equal(gone.status, "error", describeResult(gone));
        assert.ok(!gone.engines.clamav?.cached);
      });
    } finally {
      gate.close();
    }
  });

  it("VIRUS_SCANNING_ENABLED=false: ClamAV is missing, so nothing is clean", async () => {
    const config = loadConfig({ ...stack.clamd.env(), VIRUS_SCANNING_ENABLED: "false", SCAN_TMP_DIR: path.join(stack.dir, "work3") });
    const r = await withScanEngine(config, (engine) => engine.pipeline.scan({ path: cleanFile, tier: "free" }));
    assert.equal(r.status, "error", describeResult(r));
    assert.equal(r.engines.clamav?.error?.code, "ENGINE_NOT_CONFIGURED");
  });

  it("an empty file is refused: error EMPTY_FILE, no engine runs", async () => {
    const r = await stack.scan(await stack.file("empty.dcm", Buffer.alloc(0)), "gold");
    assert.equal(r.status, "error");
    assert.equal(r.engines.validation?.error?.code, "EMPTY_FILE");
    assert.equal(r.engines.clamav?.ran, false);
  });

  it("a fileHash that does not match is an integrity error", async () => {
    const r = await stack.scan(cleanFile, "free", { expectedSha256: "0".repeat(64) });
    assert.equal(r.status, "error");
    assert.equal(r.engines.validation?.error?.code, "INTEGRITY_MISMATCH");
    const ok = await stack.scan(cleanFile, "free", { expectedSha256: (await stack.scan(cleanFile, "free")).sha256! });
    assert.equal(ok.status, "clean");
  });

  it("an engine that overruns its timeout is an error, not a pass", async () => {
    const config = loadConfig({ ...stack.clamd.env(), YARA_TIMEOUT_MS: "100", SCAN_TMP_DIR: path.join(stack.dir, "work4") });
    const big = await stack.file("big.csv", Buffer.from("a,b,c\n".repeat(20 * 1024 * 1024)));
    const r = await withScanEngine(config, (engine) => engine.pipeline.scan({ path: big, tier: "premium" }));
    assert.equal(r.status, "error", describeResult(r));
    assert.equal(r.engines.yara?.error?.code, "ENGINE_TIMEOUT", describeResult(r));
  });

  it("rules that do not compile refuse the start, naming file and line", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "msd-badrules-"));
    await writeFile(path.join(dir, "good.yar"), 'rule fine { strings: $a = "x" condition: $a }\n');
    await writeFile(path.join(dir, "broken.yar"), 'rule fine2 {\n  strings:\n    $a = "x"\n  condition:\n    $b\n}\n');
    try {
      await assert.rejects(createScanEngine(loadConfig({ ...stack.clamd.env(), YARA_RULES_DIR: dir })), (err: unknown) => {
        assert.ok(err instanceof RulesCompileError);
        assert.equal(err.file, path.join(dir, "broken.yar"));
        assert.equal(err.line, 5);
        assert.match(err.message, /broken\.yar:5/);
        return true;
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
