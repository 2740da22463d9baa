import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { eicar } from "../fixtures/eicar.ts";
import { Appliance } from "../harness/appliance.ts";
import { RedisInstance } from "../harness/redis.ts";

/** Every file under `dir`, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

describe("the native appliance on a Redis of the deployment's (REDIS_URL only, with a password)", { timeout: 300_000 }, () => {
  let redis: RedisInstance;
  let appliance: Appliance;
  const password = "s3cret-redis-password-9f2c";
  before(async () => {
    redis = await RedisInstance.start({ password });
    appliance = await Appliance.start({ CLAMAV_OFFICIAL_DATABASES: "false", REDIS_URL: redis.url });
  });
  after(async () => {
    await appliance?.destroy();
    await redis?.destroy();
  });

  it("starts without a local redis-server, passes its health check, scans, and writes the password nowhere", async () => {
    assert.ok(!("redis" in (await appliance.programs())), "no local redis program");
    assert.equal((await appliance.run("healthcheck/health-check.sh")).status, 0);
    const { key } = await appliance.key("shared-redis", "free");
    const form = new FormData();
    form.append("file", new Blob([eicar()]), "eicar.txt");
    const res = await fetch(`${appliance.base}/api/medical-files/upload?wait=60`, { method: "POST", body: form, headers: { authorization: `Bearer ${key}` } });
    assert.equal(((await res.json()) as { result: { status: string } }).result.status, "infected");
    const output = await appliance.stop();
    assert.match(output, /redis from REDIS_URL/);
    for (const file of [...(await filesUnder(path.join(appliance.env.APPLIANCE_HOME!, "logs")))]) {
      assert.ok(!(await readFile(file, "utf8")).includes(password), `${file} holds the Redis password`);
    }
    assert.ok(!output.includes(password), "the appliance's output holds the Redis password");
  });
});
