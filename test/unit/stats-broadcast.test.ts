import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { StatsBroadcast } from "../../app/events/stats-broadcast.ts";
import type { StatsSnapshot } from "../../app/events/live-stats.ts";
import { createLogger } from "../../app/log.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("stats go out at most once per interval, with every verdict counted", () => {
  it("a burst of verdicts: one snapshot at once, one at the interval's end holding the rest; after a quiet interval, at once again", async () => {
    let total = 0;
    const sent: number[] = [];
    const stats = {
      record: async () => void total++,
      snapshot: async () => ({ totalScans: total }) as StatsSnapshot,
    };
    const bus = { publish: async (e: { type: string; data?: StatsSnapshot }) => void sent.push(e.data!.totalScans) };
    const broadcast = new StatsBroadcast(stats, bus as never, createLogger("silent"), 200);
    for (let i = 0; i < 10; i++) await broadcast.record("clean", 5);
    assert.equal(total, 10, "every verdict is counted at once");
    await sleep(50);
    assert.deepEqual(sent, [10], "the first goes out at once");
    for (let i = 0; i < 5; i++) await broadcast.record("infected", 5);
    await sleep(50);
    assert.deepEqual(sent, [10], "the next waits for the interval");
    await sleep(200);
    assert.deepEqual(sent, [10, 15]);
    await sleep(250);
    await broadcast.record("clean", 5);
    await sleep(20);
    assert.deepEqual(sent, [10, 15, 16], "after a quiet interval, at once");
    broadcast.close();
  });
});
