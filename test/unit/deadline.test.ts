import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { withTimeoutSignal } from "../../app/deadline.ts";

const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
const abortable = (signal: AbortSignal) => new Promise<never>((_, reject) => signal.addEventListener("abort", () => reject(new Error("aborted")), { once: true }));

describe("withTimeoutSignal", () => {
  it("aborts the work's signal once the time is up", async () => {
    const started = performance.now();
    await assert.rejects(
      withTimeoutSignal(50, (signal) => abortable(signal)),
      /aborted/,
    );
    assert.ok(performance.now() - started >= 45);
  });

  it("leaves no timer behind once the work settles, answered or failed", async () => {
    const before = timers();
    assert.equal(await withTimeoutSignal(60_000, async (signal) => (signal.aborted ? "late" : "answer")), "answer");
    await assert.rejects(withTimeoutSignal(60_000, () => Promise.reject(new Error("refused"))), /refused/);
    assert.equal(timers(), before);
  });
});
