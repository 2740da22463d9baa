import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import { BASIC_ELEMENTS, buildDicom, text } from "../fixtures/dicom.ts";
import { eicar } from "../fixtures/eicar.ts";
import { call, upload } from "../harness/api-app.ts";
import { Appliance } from "../harness/appliance.ts";
import { PostgresInstance } from "../harness/postgres.ts";
import { RedisInstance } from "../harness/redis.ts";
import { eventually, FAST_QUEUE_ENV } from "../harness/service-stack.ts";

const FREE_PER_DAY = 6;
let seq = 0;
/** A clean DICOM no other request sent, so that no verdict comes from a cache. */
const freshDicom = () => buildDicom({ elements: [...BASIC_ELEMENTS, { group: 0x0020, element: 0x000d, vr: "UI", value: text(`1.2.826.0.7.${process.pid}.${++seq}`) }] });

/** Every file under `dir` whose name ends with `suffix`. */
async function filesEnding(dir: string, suffix: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries.filter((e) => e.isFile() && e.name.endsWith(suffix)).map((e) => path.join(e.parentPath, e.name));
}

/**
 * `npm run test:scale`: one deployment of two native appliances on this machine, each with its
 * own supervisord, clamd, ports and APPLIANCE_HOME, sharing PostgreSQL (Debian's, a cluster of
 * the test's own), one Redis with a password, DATA_DIR and QUARANTINE_DIR.
 */
describe("scale-out: two appliances, one deployment (PostgreSQL, Redis, shared volumes)", { timeout: 900_000 }, () => {
  let postgres: PostgresInstance;
  let redis: RedisInstance;
  let shared: string;
  let a: Appliance;
  let b: Appliance;

  before(async () => {
    [postgres, redis] = await Promise.all([PostgresInstance.start(), RedisInstance.start({ password: "deployment-redis-secret" })]);
    shared = await mkdtemp(path.join(os.tmpdir(), "msd-shared-"));
    const env = {
      // Short locks and stall checks, so that the jobs of a killed worker run again within the test.
      ...FAST_QUEUE_ENV,
      CLAMAV_OFFICIAL_DATABASES: "false",
      DATABASE_URL: await postgres.database("deployment"),
      REDIS_URL: redis.url,
      DATA_DIR: path.join(shared, "data"),
      QUARANTINE_DIR: path.join(shared, "quarantine"),
      TIER_FREE_FILES_PER_DAY: String(FREE_PER_DAY),
    };
    a = await Appliance.start({ ...env, HOST_ID: "host-a" });
    b = await Appliance.start({ ...env, HOST_ID: "host-b" });
  });
  after(async () => {
    await a?.destroy();
    await b?.destroy();
    await Promise.all([postgres?.destroy(), redis?.destroy()]);
    if (shared) await rm(shared, { recursive: true, force: true });
  });

  it("a key made on one host works on the other; the daily limit counts once for the deployment", async () => {
    const { key } = await a.key("ward-7", "free");
    for (let i = 0; i < FREE_PER_DAY; i++) {
      const r = await upload(i % 2 ? a : b, key, freshDicom(), { name: "IM0001.dcm" });
      assert.equal(r.status, 202, JSON.stringify(r.body));
    }
    for (const host of [a, b]) {
      const refused = await upload(host, key, freshDicom());
      assert.equal(refused.status, 429, JSON.stringify(refused.body));
    }
  });

  it("a WebSocket on one host hears the verdict of a file uploaded to the other", async () => {
    const { key } = await a.key("radiology", "gold");
    const ws = new WebSocket(`ws://127.0.0.1:${a.env.SCAN_DAEMON_WS_PORT}/ws`, { headers: { authorization: `Bearer ${key}` } });
    const results: { fileId?: string; result?: { status: string } }[] = [];
    ws.on("message", (data) => {
      const m = JSON.parse(String(data)) as { type: string; fileId?: string; result?: { status: string } };
      if (m.type === "scan_result") results.push(m);
    });
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    try {
      const r = await upload(b, key, eicar(), { name: "eicar.txt" });
      assert.equal(r.status, 202);
      const heard = await eventually(async () => results.find((m) => m.fileId === r.body.fileId), 60_000, "the verdict on host A's socket");
      assert.equal(heard.result?.status, "infected");
    } finally {
      ws.close();
    }
  });

  it("uploads alternate between hosts while host B's app is SIGKILLed and PostgreSQL restarts: one final result each, read from host A; nothing malicious is clean; no SQLite file", async (t) => {
    const { key } = await a.key("pacs-gateway", "gold");
    const accepted: { fileId: string; malicious: boolean }[] = [];
    const refused: number[] = [];
    const send = async (i: number) => {
      const malicious = i % 5 === 0;
      try {
        const r = await upload(i % 2 ? a : b, key, malicious ? eicar() : freshDicom(), { name: malicious ? "eicar.txt" : "IM0001.dcm" });
        if (r.status === 202) accepted.push({ fileId: String(r.body.fileId), malicious });
        else {
          assert.ok(r.status === 503, `${r.status} ${JSON.stringify(r.body)}`);
          refused.push(i);
        }
      } catch {
        refused.push(i); // host B's intake was down: nothing was accepted
      }
    };
    // Four uploads in flight at a time, so that the kill and the restart land on work under way.
    let restarting: Promise<void> | undefined;
    for (let i = 0; i < 60; i += 4) {
      if (i === 20) {
        const pids = await b.appPids();
        process.kill(pids.intake, "SIGKILL");
        process.kill(pids.worker, "SIGKILL");
      }
      if (i === 36) restarting = postgres.restart();
      await Promise.all([i, i + 1, i + 2, i + 3].map(send));
    }
    await restarting;
    t.diagnostic(`accepted ${accepted.length} of 60 (${accepted.filter((f) => f.malicious).length} malicious), refused ${refused.length}`);
    // Refusals only where a host or the database was down: B from its kill on (until supervisord
    // has restarted it, which a fast machine may not wait for), either during PostgreSQL's restart.
    assert.deepEqual(refused.filter((i) => i < 20 || (i < 36 && i % 2 === 1)), [], `refused ${JSON.stringify(refused.sort((x, y) => x - y))}`);

    let pending: string[] = [];
    const finals = await eventually(
      async () => {
        const files = await Promise.all(accepted.map(async (f) => ({ ...f, file: (await call(a, key, "GET", `/api/medical-files/${f.fileId}`)).body })));
        pending = files.filter((f) => !f.file.status || f.file.status === "queued").map((f) => `${f.fileId}: ${JSON.stringify(f.file)}`);
        return pending.length === 0 && files;
      },
      180_000,
      "a final result for every accepted file",
    ).catch((err: Error) => {
      throw new Error(`${err.message}; still pending:\n${pending.join("\n")}`);
    });
    for (const f of finals) {
      const scans = (await call(a, key, "GET", `/api/medical-files/${f.fileId}/scans`)).body.scans as { status: string }[];
      assert.equal(scans.length, 1, `${f.fileId}: ${JSON.stringify(scans)}`);
      if (f.malicious) assert.notEqual(scans[0]!.status, "clean", f.fileId);
    }
    assert.deepEqual([...(await filesEnding(shared, ".sqlite")), ...(await filesEnding(a.home, ".sqlite")), ...(await filesEnding(b.home, ".sqlite"))], []);
  });

  it("scan-daemon audit verify passes on each host: one chain for the deployment, each host's log its own share", async () => {
    for (const host of [a, b]) {
      const verified = await host.cli(["audit", "verify"]);
      assert.equal(verified.status, 0, verified.output);
      assert.match(verified.output, /intact/);
    }
  });

  it("each appliance says which store it runs on, without the URL", async () => {
    for (const [host, id] of [[a, "host-a"], [b, "host-b"]] as const) {
      const output = await host.stop();
      assert.match(output, new RegExp(`store: PostgreSQL from DATABASE_URL, host ${id}`));
      assert.ok(!output.includes(host.env.DATABASE_URL!), "the output holds DATABASE_URL");
    }
  });
});
