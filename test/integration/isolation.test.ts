import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { loadConfig } from "../../app/config.ts";
import { createScanEngine, type ScanEngine } from "../../app/scan-engine.ts";
import { buildDicom } from "../fixtures/dicom.ts";
import { describeResult, startScanStack, type ScanStack } from "../harness/scan-stack.ts";
import { eventually } from "../harness/service-stack.ts";

/** A DICOM of two million tiny private elements: seconds of parsing for the walker. */
function slowToWalk(): Buffer {
  const elements = Array.from({ length: 2_000_000 }, (_, i) => ({ group: 0x0011, element: (i % 0xff00) + 0x10, vr: "LO", value: Buffer.from("ab") }));
  return buildDicom({ elements });
}

describe("engine work runs in threads that a deadline ends", () => {
  let stack: ScanStack;
  let engine: ScanEngine;
  before(async () => {
    stack = await startScanStack();
    engine = await createScanEngine(loadConfig({ ...stack.clamd.env(), VALIDATION_TIMEOUT_MS: "300", SCAN_ENGINE_THREADS: "1", SCAN_TMP_DIR: stack.config.tmpDir }));
  });
  after(async () => {
    await engine?.close();
    await stack.close();
  });

  it("a parse that overruns its deadline is an error, its thread is ended and replaced, and the event loop never waits for it", async () => {
    const hostile = await stack.file("slow.dcm", slowToWalk());
    const clean = await stack.file("ok.dcm", buildDicom());
    // The control, and the thread is up: its start (compiling the rules) must fit the 300 ms, which a busy machine may need a try or two for.
    await eventually(async () => (await engine.pipeline.scan({ path: clean, tier: "free" })).status === "clean", 30_000, "the control to be clean");
    const before = engine.pool.threadIds();
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const started = performance.now();
    const r = await engine.pipeline.scan({ path: hostile, tier: "free" });
    const ms = performance.now() - started;
    delay.disable();
    assert.equal(r.status, "error", describeResult(r));
    assert.equal(r.engines.validation?.error?.code, "ENGINE_TIMEOUT");
    assert.ok(ms < 2000, `the verdict came ${Math.round(ms)} ms after the scan began`);
    assert.ok(delay.max / 1e6 < 200, `the event loop waited ${Math.round(delay.max / 1e6)} ms at most`);
    const afterIds = engine.pool.threadIds();
    const ended = before.filter((id) => !afterIds.includes(id));
    assert.equal(ended.length, 1, `one thread was ended (before: ${before.join(",")}, now: ${afterIds.join(",")})`);
    await eventually(async () => engine.pool.threadIds().length === before.length, 10_000, "the ended thread to be replaced");
    // The new thread starts (and compiles the rules) inside the next scan's 300 ms: on a busy machine that can take a try or two.
    await eventually(async () => (await engine.pipeline.scan({ path: clean, tier: "free" })).status === "clean", 30_000, "a new thread to serve a clean scan");
  });
});
