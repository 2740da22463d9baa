import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ConfigError } from "../../app/errors/config-error.ts";
import { isConstraintViolation } from "../../app/store/database.ts";
import { numbered, PostgresDatabase } from "../../app/store/postgres.ts";
import { DATABASE_FILE, DEPLOYMENT_FILE, openStore, type Store } from "../../app/store/store.ts";
import { verifyAuditTrail } from "../../app/audit/audit-verify.ts";
import { PostgresInstance } from "../harness/postgres.ts";

/**
 * The PostgreSQL store on a real server (Debian's postgresql, a cluster of the test's own), as
 * two hosts of one deployment use it: two stores on one database, one DATA_DIR, two LOG_DIRs.
 */
describe("the store on PostgreSQL, shared by two hosts", { timeout: 180_000 }, () => {
  let server: PostgresInstance;
  let dir: string;
  let url: string;
  let a: Store;
  let b: Store;
  const settings = (host: string) => ({ dataDir: path.join(dir, "data"), queueName: "deployment", logDir: path.join(dir, host, "logs"), databaseUrl: url, hostId: host });

  before(async () => {
    server = await PostgresInstance.start();
    dir = await mkdtemp(path.join(os.tmpdir(), "msd-pg-store-"));
    url = await server.database("deployment");
    [a, b] = await Promise.all([openStore(settings("host-a")), openStore(settings("host-b"))]);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await server?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it("placeholders become $n, never inside a quoted literal", () => {
    assert.equal(numbered("SELECT ? , '?', 'it''s ?' WHERE a = ? AND b IN (?, ?)"), "SELECT $1 , '?', 'it''s ?' WHERE a = $2 AND b IN ($3, $4)");
  });

  it("both hosts migrated one schema at once; no SQLite file is made; DATA_DIR names the deployment", async () => {
    const version = await a.db.get<{ version: number }>("SELECT version FROM schema_version");
    assert.ok(version && version.version >= 4);
    assert.equal(await readFile(path.join(dir, "data", DATABASE_FILE)).catch(() => null), null);
    const id = (await a.db.get<{ value: string }>("SELECT value FROM service_meta WHERE key = 'deployment_id'"))!.value;
    assert.equal((await readFile(path.join(dir, "data", DEPLOYMENT_FILE), "utf8")).trim(), id);
  });

  it("a second deployment (another database) is refused on this DATA_DIR, and another queue on this database", async () => {
    const other = await server.database("other");
    await assert.rejects(openStore({ ...settings("host-c"), databaseUrl: other }), (e: unknown) => e instanceof ConfigError && /another deployment/.test(e.message));
    await assert.rejects(openStore({ ...settings("host-c"), queueName: "someone-else" }), (e: unknown) => e instanceof ConfigError && /belongs to queue/.test(e.message));
    const fresh = await openStore({ ...settings("host-c"), dataDir: path.join(dir, "fresh"), databaseUrl: await server.database("third") });
    await fresh.close();
  });

  it("audit entries from both hosts, written at once, form one chain; each host's log holds its own lines, told apart by host", async () => {
    await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).audit.record({ actor: "system", action: "followup", detail: { n: i } })),
    );
    for (const [store, host] of [[a, "host-a"], [b, "host-b"]] as const) {
      const report = await verifyAuditTrail(store.audit.rows(), store.audit.logPath, { host });
      assert.deepEqual(report.problems, []);
      assert.equal(report.entries, 40);
      const lines = (await readFile(store.audit.logPath, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { host: string });
      assert.equal(lines.length, 20);
      assert.ok(lines.every((l) => l.host === host));
    }
    const logB = b.audit.logPath;
    const kept = (await readFile(logB, "utf8")).trim().split("\n");
    await writeFile(logB, kept.slice(0, -1).map((l) => `${l}\n`).join(""));
    const cut = await verifyAuditTrail(b.audit.rows(), logB, { host: "host-b" });
    assert.match(cut.problems.join("\n"), /lacks 1 entries host host-b wrote/);
    await writeFile(logB, kept.map((l) => `${l}\n`).join(""));
  });

  it("write transactions of two hosts run one at a time: read-then-write is safe as under SQLite", async () => {
    await a.db.run("INSERT INTO service_meta (key, value) VALUES ('counter', '0') ON CONFLICT (key) DO NOTHING");
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        (i % 2 ? a : b).db.transaction(async (tx) => {
          const { value } = (await tx.get<{ value: string }>("SELECT value FROM service_meta WHERE key = 'counter'"))!;
          await tx.run("UPDATE service_meta SET value = ? WHERE key = 'counter'", [String(Number(value) + 1)]);
        }),
      ),
    );
    assert.equal((await b.db.get<{ value: string }>("SELECT value FROM service_meta WHERE key = 'counter'"))!.value, "30");
  });

  it("work run exclusively runs on one host at a time; the other skips its turn", async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const first = a.db.exclusively("reconcile", () => held.then(() => "a ran"));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await b.db.exclusively("reconcile", async () => "b ran"), undefined);
    release();
    assert.equal(await first, "a ran");
    assert.equal(await b.db.exclusively("reconcile", async () => "b ran"), "b ran");
  });

  it("a unique violation is a constraint violation, as SQLite's is; a bad statement is not", async () => {
    const insert = () => a.db.run("INSERT INTO service_meta (key, value) VALUES ('dup', 'x')");
    await insert();
    await assert.rejects(insert(), (e: unknown) => isConstraintViolation(e));
    await assert.rejects(a.db.run("SELECT nonsense FROM nowhere"), (e: unknown) => !isConstraintViolation(e));
  });

  it("a server restart: a transaction that starts while it is down waits for it, then commits", async () => {
    const db = await PostgresDatabase.open(url);
    try {
      await db.get("SELECT 1");
      await server.stop();
      const during = db.transaction(async (tx) => tx.run("INSERT INTO service_meta (key, value) VALUES ('restart', 'ok')"));
      await new Promise((r) => setTimeout(r, 1000));
      await server.launch();
      assert.deepEqual(await during, { changes: 1 });
      assert.equal((await db.get<{ value: string }>("SELECT value FROM service_meta WHERE key = 'restart'"))!.value, "ok");
    } finally {
      await db.close();
    }
  });
});
