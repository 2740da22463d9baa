import { createReadStream } from "node:fs";
import { access } from "node:fs/promises";
import readline from "node:readline";
import type { AuditRow } from "../store/audit-repo.ts";
import { auditLine, GENESIS_HASH, lineHash, type AuditDetail } from "../store/audit-line.ts";

export interface AuditReport {
  readonly ok: boolean;
  readonly entries: number;
  /** Hash of the last entry: write it down elsewhere to detect a rewritten history later. */
  readonly head: string;
  readonly problems: readonly string[];
}

const MAX_PROBLEMS = 20;

/**
 * Checks the audit table's chain, the log file's chain, and that both hold the same entries:
 * an edited line breaks its own hash and the next line's `prev`; a deleted line leaves a gap
 * in the sequence; lines cut from the end are missing against the table.
 */
export async function verifyAuditTrail(rows: AsyncIterable<AuditRow>, logPath: string): Promise<AuditReport> {
  const problems: string[] = [];
  const report = (p: string) => problems.length < MAX_PROBLEMS && problems.push(p);

  const byRow = new Map<number, string>();
  let prev = GENESIS_HASH;
  let expectedSeq = 1;
  for await (const row of rows) {
    if (row.seq !== expectedSeq) report(`audit table: entry ${expectedSeq} is missing (next is ${row.seq})`);
    if (row.prev_hash !== prev) report(`audit table: entry ${row.seq} does not follow the entry before it`);
    const line = auditLine({ seq: row.seq, at: row.at, actor: row.actor, action: row.action, fileId: row.file_id, sha256: row.sha256, detail: JSON.parse(row.detail) as AuditDetail, prev: row.prev_hash });
    if (lineHash(line) !== row.hash) report(`audit table: entry ${row.seq} was changed after it was written`);
    byRow.set(row.seq, row.hash);
    prev = row.hash;
    expectedSeq = row.seq + 1;
  }
  const tableEntries = byRow.size;

  const exists = await access(logPath).then(
    () => true,
    () => false,
  );
  if (!exists) {
    if (tableEntries > 0) report(`${logPath} is missing but the audit table holds ${tableEntries} entries`);
    return { ok: problems.length === 0, entries: tableEntries, head: prev, problems };
  }

  let lineNo = 0;
  let filePrev = GENESIS_HASH;
  let fileSeq = 0;
  const lines = readline.createInterface({ input: createReadStream(logPath), crlfDelay: Infinity });
  for await (const text of lines) {
    lineNo++;
    let parsed: { seq?: unknown; prev?: unknown };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      report(`line ${lineNo}: not a JSON audit entry`);
      filePrev = lineHash(text);
      continue;
    }
    const seq = Number(parsed.seq);
    if (seq !== fileSeq + 1) report(`line ${lineNo}: entry ${seq} follows entry ${fileSeq}: ${seq > fileSeq + 1 ? "lines are missing" : "out of order"}`);
    if (parsed.prev !== filePrev) report(`line ${lineNo}: the previous line was changed or removed (its hash does not match)`);
    const hash = lineHash(text);
    const inTable = byRow.get(seq);
    if (inTable === undefined) report(`line ${lineNo}: entry ${seq} is not in the audit table`);
    else if (inTable !== hash) report(`line ${lineNo}: entry ${seq} differs from the audit table (the line was changed)`);
    filePrev = hash;
    fileSeq = seq;
  }
  if (fileSeq < expectedSeq - 1) report(`${logPath} ends at entry ${fileSeq} but the audit table holds entries up to ${expectedSeq - 1}`);
  return { ok: problems.length === 0, entries: tableEntries, head: prev, problems };
}
