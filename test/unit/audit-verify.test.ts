import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { verifyAuditTrail } from "../../app/audit/audit-verify.ts";
import { auditLine, GENESIS_HASH, lineHash } from "../../app/store/audit-line.ts";
import type { AuditRow } from "../../app/store/audit-repo.ts";

/** A chain of `n` entries as the table holds them, and each entry's log line. */
function chain(n: number, hostOf: (seq: number) => string | null = () => null): { rows: AuditRow[]; lines: string[] } {
  const rows: AuditRow[] = [];
  const lines: string[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const host = hostOf(seq);
    const entry = { seq, at: `2026-12-01T00:00:0${seq}.000Z`, host, actor: "system", action: "verdict", fileId: `f${seq}`, sha256: null, detail: { n: seq }, prev };
    const line = auditLine(entry);
    const hash = lineHash(line);
    rows.push({ seq, at: entry.at, host, actor: entry.actor, action: entry.action, file_id: entry.fileId, sha256: null, detail: JSON.stringify(entry.detail), prev_hash: prev, hash });
    lines.push(line);
    prev = hash;
  }
  return { rows, lines };
}

/** The line a transaction wrote for entry `seq` before its COMMIT failed: same place in the chain, other content. */
function uncommitted(rows: AuditRow[], seq: number): string {
  return auditLine({ seq, at: "2026-12-01T00:00:09.000Z", actor: "system", action: "upload", fileId: "rolled-back", sha256: null, detail: {}, prev: rows[seq - 2]?.hash ?? GENESIS_HASH });
}

async function* each<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

describe("audit verify: a line whose transaction did not commit", () => {
  let dir: string;
  const log = () => path.join(dir, "scan-audit.log");
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "msd-audit-verify-"));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("followed by the committed entry of the same number: not part of the chain, counted, and the trail is intact", async () => {
    const { rows, lines } = chain(4);
    await writeFile(log(), [lines[0], lines[1], uncommitted(rows, 3), lines[2], lines[3]].map((l) => `${l}\n`).join(""));
    const report = await verifyAuditTrail(each(rows), log());
    assert.deepEqual(report.problems, []);
    assert.equal(report.rolledBack, 1);
  });

  it("the same in one host's share of a deployment's chain", async () => {
    const { rows, lines } = chain(4, (seq) => (seq % 2 ? "host-a" : "host-b"));
    await writeFile(log(), [lines[0], uncommitted(rows, 3), lines[2]].map((l) => `${l}\n`).join(""));
    const report = await verifyAuditTrail(each(rows), log(), { host: "host-a" });
    assert.deepEqual(report.problems, []);
    assert.equal(report.rolledBack, 1);
    // Its number went to another host's entry: in this host's log no line of that number follows.
    await writeFile(log(), [lines[0], uncommitted(rows, 2), lines[2]].map((l) => `${l}\n`).join(""));
    const taken = await verifyAuditTrail(each(rows), log(), { host: "host-a" });
    assert.deepEqual(taken.problems, []);
    assert.equal(taken.rolledBack, 1);
  });

  it("a changed line that nothing supersedes, or a foreign line at the end, is still a problem", async () => {
    const { rows, lines } = chain(3);
    await writeFile(log(), [lines[0], uncommitted(rows, 2), lines[2]].map((l) => `${l}\n`).join(""));
    assert.match((await verifyAuditTrail(each(rows), log())).problems.join("\n"), /entry 2 differs from the audit table/);
    await writeFile(log(), [...lines, uncommitted(rows, 3)].map((l) => `${l}\n`).join(""));
    assert.match((await verifyAuditTrail(each(rows), log())).problems.join("\n"), /entry 3 follows entry 3: out of order/);
  });
});
