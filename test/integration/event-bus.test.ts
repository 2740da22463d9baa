import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { EventBus, type ScanEvent } from "../../app/events/event-bus.ts";
import { createLogger } from "../../app/log.ts";
import { connectRedis, type RedisConnection } from "../../app/store/redis-connection.ts";
import { eventually } from "../harness/service-stack.ts";
import { RedisInstance } from "../harness/redis.ts";

describe("event bus: a scan worker sends, the processes that serve WebSockets receive", () => {
  const log = createLogger("silent");
  let redis: RedisInstance;
  let publisher: RedisConnection;

  before(async () => {
    redis = await RedisInstance.start();
    publisher = await connectRedis(redis.url, log, "test");
  });

  after(async () => {
    await publisher?.close();
    await redis?.destroy();
  });

  it("a sending-only bus (a worker's) does not subscribe, and what it sends reaches a listening bus (an intake's)", async () => {
    const intake = await EventBus.create(publisher, "msd:bus-test", log);
    const worker = await EventBus.create(publisher, "msd:bus-test", log, false);
    try {
      const subscribers = (await publisher.sendCommand(["PUBSUB", "NUMSUB", "msd:bus-test:events"])) as [string, number];
      assert.equal(subscribers[1], 1, "only the intake's bus subscribes");
      const heard: ScanEvent[] = [];
      intake.on((event) => heard.push(event));
      const sent: ScanEvent = { type: "scan_progress", jobId: "j1", fileId: "f1", userId: "ward-7", progress: 100 };
      await worker.publish(sent);
      await eventually(async () => heard.length === 1, 5000, "the worker's event at the intake");
      assert.deepEqual(heard[0], sent);
    } finally {
      await worker.close();
      await intake.close();
    }
  });
});
