import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { AuditLogFile } from "../../app/store/audit-log-file.ts";
import { SqliteDatabase } from "../../app/store/sqlite.ts";

describe("group commit: concurrent transactions share one COMMIT and one audit fdatasync", () => {
  let dir: string;
  let db: SqliteDatabase;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "msd-group-"));
    db = await SqliteDatabase.open(path.join(dir, "t.sqlite"));
    await db.exec("CREATE TABLE t (n INTEGER PRIMARY KEY)");
  });
  after(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("the database and its WAL files are the app user's alone, also one made before with a wider mode", async () => {
    const file = path.join(dir, "t.sqlite");
    for (const f of [file, `${file}-wal`, `${file}-shm`]) assert.equal((await stat(f)).mode & 0o777, 0o600, f);
    const older = path.join(dir, "older.sqlite");
    await writeFile(older, "");
    await chmod(older, 0o644);
    const reopened = await SqliteDatabase.open(older);
    await reopened.exec("CREATE TABLE u (n INTEGER)");
    for (const f of [older, `${older}-wal`, `${older}-shm`]) assert.equal((await stat(f)).mode & 0o777, 0o600, f);
    await reopened.close();
  });

  it("transactions started together commit together; one that fails is rolled back alone; none resolves before the commit", async () => {
    const log = AuditLogFile.inDir(dir);
    const events: string[] = [];
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        db
          .transaction(async (tx) => {
            events.push(`body ${i}`);
            await tx.run("INSERT INTO t (n) VALUES (?)", [i]);
            tx.beforeCommit(() => log.append(`line ${i}`));
            if (i === 4) throw new Error("body 4 fails");
            return i;
          })
          .then((v) => {
            events.push(`resolved ${v}`);
            return v;
          }),
      ),
    );
    assert.deepEqual(
      results.map((r) => (r.status === "fulfilled" ? r.value : (r.reason as Error).message)),
      [0, 1, 2, 3, "body 4 fails", 5, 6, 7, 8, 9],
    );
    assert.ok(events.indexOf("body 9") < events.indexOf("resolved 0"), events.join(", "));
    const rows = await db.all<{ n: number }>("SELECT n FROM t ORDER BY n");
    assert.deepEqual(rows.map((r) => r.n), [0, 1, 2, 3, 5, 6, 7, 8, 9]);
    assert.equal(await readFile(path.join(dir, "scan-audit.log"), "utf8"), [0, 1, 2, 3, 5, 6, 7, 8, 9].map((i) => `line ${i}\n`).join(""));
    await log.close();
  });

  it("the write chain is bounded: past 10,000 waiting transactions the next is refused with STORE_BUSY, not queued", async () => {
    const results = await Promise.allSettled(Array.from({ length: 10_001 }, () => db.transaction(async (tx) => tx.get("SELECT 1"))));
    const refused = results.filter((r) => r.status === "rejected");
    assert.equal(refused.length, 1);
    assert.equal((refused[0] as PromiseRejectedResult).reason.code, "STORE_BUSY");
  });

  it("a failing beforeCommit step (the audit line could not be written) rolls the whole group back and rejects each", async () => {
    const results = await Promise.allSettled(
      [100, 101].map((n) =>
        db.transaction(async (tx) => {
          await tx.run("INSERT INTO t (n) VALUES (?)", [n]);
          tx.beforeCommit(async () => {
            throw new Error("disk full");
          });
        }),
      ),
    );
    assert.deepEqual(results.map((r) => r.status), ["rejected", "rejected"]);
    assert.equal((await db.get<{ c: number }>("SELECT count(*) AS c FROM t WHERE n >= 100"))!.c, 0);
    await db.transaction((tx) => tx.run("INSERT INTO t (n) VALUES (200)"));
    assert.equal((await db.get<{ c: number }>("SELECT count(*) AS c FROM t WHERE n = 200"))!.c, 1, "the next transaction works");
  });
});
