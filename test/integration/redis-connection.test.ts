import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { AbortError } from "redis";
import { createLogger } from "../../app/log.ts";
import { connectRedis, REDIS_COMMAND_TIMEOUT_MS, SharedDeadline, type RedisConnection } from "../../app/store/redis-connection.ts";
import { eventually } from "../harness/service-stack.ts";
import { RedisInstance } from "../harness/redis.ts";

describe("the Redis connection: a command waits unsent for a few seconds at most", () => {
  let redis: RedisInstance;
  let client: RedisConnection;

  before(async () => {
    redis = await RedisInstance.start();
    client = await connectRedis(redis.url, createLogger("silent"), "test");
  });

  after(async () => {
    await client?.close();
    await redis?.destroy();
  });

  it("commands of the same second share one deadline signal; a later one gets a fresh signal, and each aborts on time", async () => {
    const deadline = new SharedDeadline(200, 50);
    const first = deadline.current();
    assert.equal(deadline.current(), first);
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on("warning", onWarning);
    for (let i = 0; i < 20; i++) first.addEventListener("abort", () => undefined, { once: true });
    await sleep(10);
    process.off("warning", onWarning);
    assert.deepEqual(warnings.map((w) => w.message), [], "twenty commands waiting on one signal are no leak");
    await sleep(50);
    const second = deadline.current();
    assert.notEqual(second, first);
    assert.equal(first.aborted, false);
    await sleep(160);
    assert.equal(first.aborted, true, "the first signal, 220 ms old");
    assert.equal(second.aborted, false, "the second signal, 160 ms old");
  });

  it("a command sent while Redis is away fails after 4-5 s and is not sent once Redis is back", async () => {
    await client.set("counted", "0");
    await redis.stop();
    // A command written before the client sees the socket close fails at once with the socket;
    // this one is to be sent while the client knows Redis is away.
    await eventually(async () => !client.isReady, 5000, "the client to see Redis gone");
    const sent = performance.now();
    const outcome = await client.incr("counted").then(
      () => "answered",
      (err: Error) => err,
    );
    const waited = performance.now() - sent;
    assert.ok(outcome instanceof AbortError, String(outcome));
    assert.ok(waited >= REDIS_COMMAND_TIMEOUT_MS - 1000 - 50 && waited < REDIS_COMMAND_TIMEOUT_MS + 1000, `failed after ${Math.round(waited)} ms`);
    await redis.launch();
    await eventually(async () => (await client.ping().catch(() => "")) === "PONG", 20_000, "the client to reconnect");
    assert.equal(await client.get("counted"), "0", "the dropped INCR never reached Redis");
  });
});
