import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { MedicalFileScanDaemon } from "../../app/daemon.ts";
import { ConfigError } from "../../app/errors/config-error.ts";
import { NotFoundError } from "../../app/errors/not-found-error.ts";
import { SubmitRejectedError } from "../../app/errors/submit-rejected-error.ts";
import { buildDicom } from "../fixtures/dicom.ts";
import { eicar } from "../fixtures/eicar.ts";
import { eventually, recordEvents, startServiceStack, TEST_DATABASE_NAME, type ServiceStack } from "../harness/service-stack.ts";

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const mode = async (p: string) => (await stat(p)).mode & 0o777;

describe(`service: verdicts, storage and quarantine (real clamd, Redis, ${TEST_DATABASE_NAME})`, () => {
  let stack: ServiceStack;
  let daemon: MedicalFileScanDaemon;
  before(async () => {
    stack = await startServiceStack();
    daemon = await stack.daemon();
  });
  after(() => stack.close());

  async function submitAndWait(name: string, data: Buffer, tier: "free" | "premium" | "gold" | "enterprise" = "free", userId = "alice") {
    const { fileId, jobId } = await daemon.submitFile({ filePath: await stack.file(name, data), fileName: name, userTier: tier, userId });
    const scan = await daemon.waitForResult(jobId, 30_000);
    assert.ok(scan, `no result for ${name}`);
    return { fileId, jobId, scan };
  }

  it("a clean DICOM is kept under DATA_DIR by id, with one result and its events", async () => {
    const results = recordEvents(daemon, "scan_result");
    const progress = recordEvents(daemon, "scan_progress");
    const stats = recordEvents(daemon, "stats");
    const order: string[] = [];
    daemon.on("scan_progress", (e) => order.push(`${e.jobId} progress ${e.progress}`));
    daemon.on("scan_result", (e) => order.push(`${e.jobId} result`));
    const data = buildDicom();
    const { fileId, jobId, scan } = await submitAndWait("study.dcm", data, "premium");
    assert.equal(scan.status, "clean");
    assert.deepEqual(scan.scanEngines, ["validation", "clamav", "yara"]);
    const file = await daemon.getFile(fileId, "alice");
    assert.equal(file.state, "stored");
    assert.equal(file.storedPath, path.join(stack.env.DATA_DIR!, "files", fileId));
    assert.equal(file.detectedType, "application/dicom");
    assert.deepEqual(await readFile(file.storedPath!), data);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(results.filter((e) => e.jobId === jobId).length, 1);
    assert.equal(results.find((e) => e.jobId === jobId)!.fileName, "study.dcm");
    assert.ok(progress.some((e) => e.jobId === jobId && e.progress === 100));
    const mine = order.filter((e) => e.startsWith(jobId));
    assert.deepEqual(mine.slice(-2), [`${jobId} progress 100`, `${jobId} result`], "the 100 % comes just before the result");
    // Stats go out at most once a second, so the snapshot with this verdict may come a second later.
    await eventually(async () => stats.length >= 1 && stats.at(-1)!.data.totalScans >= 1, 5000, "a stats snapshot");
  });

  it("an infected file lands in quarantine: 0600 in a 0700 folder, named by id, no clean path left", async () => {
    const data = eicar();
    const { fileId, scan } = await submitAndWait("report.pdf", data);
    assert.equal(scan.status, "infected");
    const file = await daemon.getFile(fileId);
    assert.equal(file.state, "quarantined");
    assert.equal(file.storedPath, null);
    await assert.rejects(stat(path.join(stack.env.DATA_DIR!, "files", fileId)), { code: "ENOENT" });
    const entry = (await daemon.quarantine.list()).find((e) => e.fileId === fileId)!;
    assert.equal(entry.verdict, "infected");
    assert.equal(path.basename(entry.path), entry.id);
    assert.equal(path.dirname(entry.path), stack.env.QUARANTINE_DIR);
    assert.equal(await mode(entry.path), 0o600);
    assert.equal(await mode(stack.env.QUARANTINE_DIR!), 0o700);
    assert.ok(!(await readdir(stack.env.QUARANTINE_DIR!)).some((n) => n.includes("report")));
    assert.deepEqual(await readFile(entry.path), data);
  });

  it("release restores the bytes under DATA_DIR; purge removes entries older than the retention", async () => {
    const data = eicar();
    const released = await submitAndWait("a.txt", data);
    const kept = await submitAndWait("b.txt", Buffer.concat([data, Buffer.from("\n")]));
    const [relEntry, keptEntry] = await Promise.all([released, kept].map(async (s) => (await daemon.quarantine.list()).find((e) => e.fileId === s.fileId)!));
    await daemon.quarantine.release(relEntry!.id, "admin-1");
    const file = await daemon.getFile(released.fileId);
    assert.equal(file.state, "released");
    assert.deepEqual(await readFile(file.storedPath!), data);
    assert.equal(await mode(file.storedPath!), 0o640, "a released file is a stored file again, which clamd may read");
    await assert.rejects(stat(relEntry!.path), { code: "ENOENT" });
    await assert.rejects(daemon.quarantine.release(relEntry!.id, "admin-1"), NotFoundError);

    assert.equal(await daemon.quarantine.purge(30), 0, "nothing is 30 days old yet");
    const later = new Date(Date.now() + 31 * 86_400_000);
    const cleanOne = await submitAndWait("old.dcm", buildDicom());
    const applied = await daemon.applyRetention(later);
    assert.ok(applied.purged >= 1 && applied.expired >= 1, JSON.stringify(applied));
    assert.equal((await daemon.getFile(cleanOne.fileId)).state, "expired");
    await assert.rejects(stat(path.join(stack.env.DATA_DIR!, "files", cleanOne.fileId)), { code: "ENOENT" });
    await assert.rejects(stat(keptEntry!.path), { code: "ENOENT" });
    assert.equal((await daemon.getFile(kept.fileId)).state, "deleted");
    assert.equal((await daemon.quarantine.list()).length, 0);
  });

  it("refuses bad submissions with a precise code and leaves nothing behind", async () => {
    const big = await stack.file("big.dcm", Buffer.alloc(0));
    await truncate(big, 10 * 1024 * 1024 + 1);
    const good = await stack.file("ok.dcm", buildDicom());
    const cases: [string, Parameters<MedicalFileScanDaemon["submitFile"]>[0], string][] = [
      ["over the tier size", { filePath: big, fileName: "big.dcm", userTier: "free", userId: "bob" }, "FILE_TOO_LARGE"],
      ["empty", { filePath: await stack.file("e.dcm", Buffer.alloc(0)), fileName: "e.dcm", userTier: "free", userId: "bob" }, "EMPTY_FILE"],
      ["wrong fileHash", { filePath: good, fileName: "ok.dcm", fileHash: "0".repeat(64), userTier: "free", userId: "bob" }, "INTEGRITY_MISMATCH"],
      ["a path as fileId", { fileId: "../../etc/passwd", filePath: good, fileName: "ok.dcm", userTier: "free", userId: "bob" }, "INVALID_REQUEST"],
      ["an unknown tier", { filePath: good, fileName: "ok.dcm", userTier: "platinum" as "free", userId: "bob" }, "INVALID_REQUEST"],
    ];
    for (const [what, input, code] of cases) {
      await assert.rejects(daemon.submitFile(input), (e: unknown) => e instanceof SubmitRejectedError && e.code === code, what);
    }
    const first = await daemon.submitFile({ fileId: "fixed-id-1", filePath: good, fileName: "ok.dcm", fileHash: sha256(await readFile(good)), userTier: "free", userId: "bob" });
    await assert.rejects(daemon.submitFile({ fileId: "fixed-id-1", filePath: good, fileName: "ok.dcm", userTier: "free", userId: "bob" }), { code: "DUPLICATE_FILE" });
    assert.equal((await daemon.waitForResult(first.jobId, 30_000))?.status, "clean");

    const [a, b] = [buildDicom(), Buffer.concat([buildDicom(), Buffer.alloc(64)])];
    const race = await Promise.allSettled([a, b].map(async (data, i) => daemon.submitFile({ fileId: "raced-id", filePath: await stack.file(`r${i}.dcm`, data), fileName: "r.dcm", userTier: "free", userId: "bob" })));
    assert.equal(race.filter((r) => r.status === "fulfilled").length, 1, "one of two submissions of one fileId wins");
    assert.ok(race.some((r) => r.status === "rejected" && (r.reason as SubmitRejectedError).code === "DUPLICATE_FILE"));
    const winner = await daemon.getFile("raced-id");
    assert.equal(sha256(await readFile(winner.storedPath!)), winner.sha256, "the loser did not overwrite the winner's bytes");
    assert.deepEqual(await readdir(daemon.incomingDir), []);
    const owned = (await readdir(path.join(stack.env.DATA_DIR!, "files"))).filter((n) => n === "fixed-id-1");
    assert.equal(owned.length, 1);
  });

  it("rescans run the current engines without the cache, premium and above, owner only", async () => {
    const free = await submitAndWait("f.dcm", buildDicom(), "free", "carol");
    await assert.rejects(daemon.rescan(free.fileId, { userId: "carol" }), { code: "RESCAN_NOT_ALLOWED" });
    const gold = await submitAndWait("g.dcm", buildDicom(), "gold", "carol");
    await assert.rejects(daemon.rescan(gold.fileId, { userId: "mallory" }), NotFoundError);
    await assert.rejects(daemon.getScans(gold.fileId, "mallory"), NotFoundError);
    const again = await daemon.rescan(gold.fileId, { userId: "carol" });
    const scan = await daemon.waitForResult(again.jobId, 30_000);
    assert.equal(scan?.scanType, "rescan");
    assert.equal(scan?.status, "clean");
    assert.ok(Object.values(scan!.results.engines).every((run) => !run.cached), "a rescan never comes from the cache");
    assert.equal((await daemon.getScans(gold.fileId, "carol")).length, 2);
  });

  it("quarantines encrypted at rest when a key is set, and gives the original bytes back on release", async () => {
    const keyed = await stack.daemon({
      env: {
        ...(await stack.scenario("encrypted")),
        QUARANTINE_ENCRYPTION_KEY: "ab".repeat(32),
      },
    });
    const data = eicar();
    const { fileId, jobId } = await keyed.submitFile({ filePath: await stack.file("x.bin", data), fileName: "x.bin", userTier: "free", userId: "dave" });
    assert.equal((await keyed.waitForResult(jobId, 30_000))?.status, "infected");
    const entry = (await keyed.quarantine.list()).find((e) => e.fileId === fileId)!;
    const atRest = await readFile(entry.path);
    assert.equal(entry.encrypted, true);
    assert.equal(atRest.subarray(0, 5).toString(), "MSDQ2");
    assert.equal(atRest.indexOf(data.subarray(0, 20)), -1, "no plaintext at rest");

    const tampered = Buffer.from(atRest);
    tampered[30]! ^= 1;
    await writeFile(entry.path, tampered);
    await assert.rejects(keyed.quarantine.release(entry.id, "admin"));
    assert.equal((await keyed.getFile(fileId)).state, "quarantined", "a tampered entry is not released");
    await writeFile(entry.path, atRest);

    // Two entries' files swapped on disk: each is bound to its own id and opens as neither.
    const other = await keyed.submitFile({ filePath: await stack.file("y.bin", Buffer.concat([data, Buffer.from(" other")])), fileName: "y.bin", userTier: "free", userId: "dave" });
    await keyed.waitForResult(other.jobId, 30_000);
    const otherEntry = (await keyed.quarantine.list()).find((e) => e.fileId === other.fileId)!;
    const otherAtRest = await readFile(otherEntry.path);
    await writeFile(entry.path, otherAtRest);
    await writeFile(otherEntry.path, atRest);
    await assert.rejects(keyed.quarantine.release(entry.id, "admin"));
    await assert.rejects(keyed.quarantine.release(otherEntry.id, "admin"));
    await writeFile(entry.path, atRest);
    await writeFile(otherEntry.path, otherAtRest);
    assert.deepEqual(await readdir(keyed.incomingDir), [], "no plaintext left behind");

    await keyed.quarantine.release(entry.id, "admin");
    assert.deepEqual(await readFile((await keyed.getFile(fileId)).storedPath!), data);
  });

  it("a release checks the bytes against the SHA-256 recorded at upload: other bytes stay held", async () => {
    const daemon = await stack.daemon({ env: (await stack.scenario("integrity")) });
    const data = eicar();
    const { fileId, jobId } = await daemon.submitFile({ filePath: await stack.file("z.bin", data), fileName: "z.bin", userTier: "free", userId: "erin" });
    await daemon.waitForResult(jobId, 30_000);
    const entry = (await daemon.quarantine.list()).find((e) => e.fileId === fileId)!;
    const swapped = Buffer.from(data);
    swapped[0]! ^= 1;
    await writeFile(entry.path, swapped);
    await assert.rejects(daemon.quarantine.release(entry.id, "admin"), { code: "QUARANTINE_INTEGRITY" });
    assert.equal((await daemon.getFile(fileId)).state, "quarantined");
    assert.deepEqual(await readdir(daemon.incomingDir), [], "the copy is removed");
  });

  it("refuses to start a second queue on a DATA_DIR that belongs to another (it would take over its jobs)", async () => {
    await assert.rejects(stack.daemon({ env: { SCAN_QUEUE_NAME: "someone-else" } }), (e: unknown) => e instanceof ConfigError && /SCAN_QUEUE_NAME.*belongs to queue/.test(e.message));
  });

  it("refuses to start on this Redis's queue with a store of its own (it would take jobs whose files are in another store)", async () => {
    const foreign = { ...(await stack.scenario("foreign")), SCAN_QUEUE_NAME: stack.env.SCAN_QUEUE_NAME! };
    await assert.rejects(stack.daemon({ env: foreign }), (e: unknown) => e instanceof ConfigError && /this Redis's queue belongs to another deployment/.test(e.message));
  });

  it("a quarantine on another filesystem (copy, fsync, unlink); a move that fails leaves the file held, never clean", async () => {
    const shm = await mkdtemp("/dev/shm/msd-quarantine-");
    try {
      const env: Record<string, string> = { ...(await stack.scenario("exdev")), QUARANTINE_DIR: path.join(shm, "q") };
      const across = await stack.daemon({ env });
      const first = await across.submitFile({ filePath: await stack.file("a.bin", eicar()), fileName: "a.bin", userTier: "free", userId: "gina" });
      assert.equal((await across.waitForResult(first.jobId, 30_000))?.status, "infected");
      const entry = (await across.quarantine.list()).find((e) => e.fileId === first.fileId)!;
      assert.ok(entry.path.startsWith(shm));
      assert.equal(await mode(entry.path), 0o600);
      await assert.rejects(stat(path.join(env.DATA_DIR!, "files", first.fileId)), { code: "ENOENT" });

      // The vault's folder replaced by a file: every move into it fails.
      await rm(env.QUARANTINE_DIR!, { recursive: true });
      await writeFile(env.QUARANTINE_DIR!, "not a folder");
      const second = await across.submitFile({ filePath: await stack.file("b.bin", eicar()), fileName: "b.bin", userTier: "free", userId: "gina" });
      assert.equal((await across.waitForResult(second.jobId, 30_000))?.status, "infected");
      const held = await across.getFile(second.fileId);
      assert.equal(held.state, "quarantining", "the verdict is recorded and the file is not stored as clean");
      assert.notEqual(held.state, "stored");

      // A third whose bytes were then removed from DATA_DIR behind the service's back: nothing
      // to hold. The pass settles it and goes on past the move that still fails.
      const third = await across.submitFile({ filePath: await stack.file("c.bin", eicar()), fileName: "c.bin", userTier: "free", userId: "gina" });
      assert.equal((await across.waitForResult(third.jobId, 30_000))?.status, "infected");
      await rm(path.join(env.DATA_DIR!, "files", third.fileId));
      await across.reconcile();
      assert.equal((await across.getFile(second.fileId)).state, "quarantining");
      const gone = await across.getFile(third.fileId);
      assert.equal(gone.state, "deleted");
      assert.equal(gone.storedPath, null);
      assert.match(await readFile(path.join(env.LOG_DIR!, "scan-audit.log"), "utf8"), new RegExp(`"action":"file_missing","fileId":"${third.fileId}"`));

      await rm(env.QUARANTINE_DIR!);
      await mkdir(env.QUARANTINE_DIR!, { mode: 0o700 });
      assert.equal((await across.reconcile()).quarantined, 1);
      assert.equal((await across.getFile(second.fileId)).state, "quarantined");
    } finally {
      await rm(shm, { recursive: true, force: true });
    }
  });
});
