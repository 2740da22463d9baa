import { createReadStream } from "node:fs";
import { access } from "node:fs/promises";
import readline from "node:readline";
import { rowLine, type AuditRow } from "../store/audit-repo.ts";
import { GENESIS_HASH, KEYED, lineHash } from "../store/audit-line.ts";

export interface AuditReport {
  readonly ok: boolean;
  readonly entries: number;
  /** Hash of the last entry: write it down elsewhere to detect a rewritten history later. */
  readonly head: string;
  /** The first entry chained with AUDIT_HMAC_KEY, or null when none is. */
  readonly keyedFrom: number | null;
  /**
   * Lines of transactions that did not commit: a line goes to the log before its COMMIT, and a
   * COMMIT that fails (the database restarted, the process died) leaves it there, superseded by
   * the next line of the same sequence number. Not part of the chain; reported, not a problem.
   */
  readonly rolledBack: number;
  readonly problems: readonly string[];
}

export interface VerifyOptions {
  /** AUDIT_HMAC_KEY, to check the entries chained with it. */
  readonly key?: Buffer;
  /** Heads kept off the machine (`SEQ:HASH`): each must still be in the chain, or history was rewritten. */
  readonly expect?: readonly { readonly seq: number; readonly hash: string }[];
  /**
   * In a deployment of several hosts, this host's HOST_ID: the chain in the database is the
   * deployment's, and this host's log must hold every entry this host wrote (and only entries
   * of the chain), each after the entry before it in the chain, not after its own previous line.
   */
  readonly host?: string;
}

/** Keyed entries only ever follow plain ones: a plain entry after a keyed one was written without the key. */
class KeyedOrder {
  first: number | null = null;
  check(seq: number, keyed: boolean, where: string, report: (p: string) => void): void {
    if (keyed) this.first ??= seq;
    else if (this.first !== null) report(`${where}: entry ${seq} is not HMAC-chained though entry ${this.first} is (rewritten without the key?)`);
  }
}

const MAX_PROBLEMS = 20;

/**
 * Checks the audit table's chain, the log file's chain, and that both hold the same entries:
 * an edited line breaks its own hash and the next line's `prev`; a deleted line leaves a gap
 * in the sequence; lines cut from the end are missing against the table. With `host`, the log
 * is that host's share of a deployment's chain (see VerifyOptions.host).
 */
export async function verifyAuditTrail(rows: AsyncIterable<AuditRow>, logPath: string, options: VerifyOptions = {}): Promise<AuditReport> {
  const problems: string[] = [];
  const report = (p: string) => problems.length < MAX_PROBLEMS && problems.push(p);
  const { key } = options;
  const tableOrder = new KeyedOrder();
  const fileOrder = new KeyedOrder();

  const byRow = new Map<number, string>();
  /** With `host`: the entries that host wrote, each to be found in its log. */
  const mine = new Set<number>();
  let lastKeyed: boolean | null = null;
  let prev = GENESIS_HASH;
  let expectedSeq = 1;
  for await (const row of rows) {
    if (row.seq !== expectedSeq) report(`audit table: entry ${expectedSeq} is missing (next is ${row.seq})`);
    if (row.prev_hash !== prev) report(`audit table: entry ${row.seq} does not follow the entry before it`);
    const plain = lineHash(rowLine(row, false)) === row.hash;
    const keyed = !plain && key !== undefined && lineHash(rowLine(row, true), key) === row.hash;
    if (!plain && !keyed) report(`audit table: entry ${row.seq} was changed after it was written${key ? "" : " (or it is HMAC-chained: set AUDIT_HMAC_KEY)"}`);
    else tableOrder.check(row.seq, keyed, "audit table", report);
    lastKeyed = keyed;
    byRow.set(row.seq, row.hash);
    if (options.host !== undefined && row.host === options.host) mine.add(row.seq);
    prev = row.hash;
    expectedSeq = row.seq + 1;
  }
  const tableEntries = byRow.size;
  // With the key set, the service keys every entry it writes, and marks the switch with an entry
  // of its own at start: a trail that ends unkeyed was rewritten without the key.
  if (key && lastKeyed === false) {
    report(`audit table: the last entry (${expectedSeq - 1}) is not HMAC-chained though AUDIT_HMAC_KEY is set: the trail was rewritten without the key (or the service has not run with the key yet)`);
  }

  for (const e of options.expect ?? []) {
    if (byRow.get(e.seq) !== e.hash) report(`entry ${e.seq} kept off the machine as ${e.hash} is ${byRow.has(e.seq) ? "not" : "no longer"} in the chain: history was rewritten`);
  }

  const exists = await access(logPath).then(
    () => true,
    () => false,
  );
  if (!exists) {
    const owed = options.host !== undefined ? mine.size : tableEntries;
    if (owed > 0) report(`${logPath} is missing but the audit table holds ${owed} entries${options.host !== undefined ? ` host ${options.host} wrote` : ""}`);
    return { ok: problems.length === 0, entries: tableEntries, head: prev, keyedFrom: tableOrder.first, rolledBack: 0, problems };
  }

  let filePrev = GENESIS_HASH;
  let fileSeq = 0;
  let rolledBack = 0;
  const ownSeqs = new Set(mine);
  const check = (line: LogLine, next: LogLine | undefined) => {
    const { lineNo, parsed, seq, hash } = line;
    if (!parsed) {
      report(`line ${lineNo}: not a JSON audit entry`);
      filePrev = hash;
      return;
    }
    // Written before its COMMIT, which then failed (the database went away, the process died):
    // the next line takes the same sequence number and is the entry the table holds, or, in a
    // deployment, the table holds that number as another host's entry.
    const superseded = next?.parsed && next.seq === seq && byRow.get(seq) === next.hash;
    const takenByAnother = options.host !== undefined && byRow.has(seq) && !ownSeqs.has(seq);
    if (byRow.get(seq) !== hash && (superseded || takenByAnother)) {
      rolledBack++;
      return;
    }
    if (options.host !== undefined) {
      if (!(seq > fileSeq)) report(`line ${lineNo}: entry ${seq} follows entry ${fileSeq}: out of order`);
      if (parsed.prev !== (seq === 1 ? GENESIS_HASH : byRow.get(seq - 1))) report(`line ${lineNo}: entry ${seq} does not follow entry ${seq - 1} of the chain`);
      mine.delete(seq);
    } else {
      if (seq !== fileSeq + 1) report(`line ${lineNo}: entry ${seq} follows entry ${fileSeq}: ${seq > fileSeq + 1 ? "lines are missing" : "out of order"}`);
      if (parsed.prev !== filePrev) report(`line ${lineNo}: the previous line was changed or removed (its hash does not match)`);
    }
    const keyedLine = parsed.mac === KEYED;
    if (keyedLine && !key) report(`line ${lineNo}: entry ${seq} is HMAC-chained: set AUDIT_HMAC_KEY to verify it`);
    fileOrder.check(seq, keyedLine, `line ${lineNo}`, report);
    const inTable = byRow.get(seq);
    if (inTable === undefined) report(`line ${lineNo}: entry ${seq} is not in the audit table`);
    else if (inTable !== hash) report(`line ${lineNo}: entry ${seq} differs from the audit table (the line was changed)`);
    filePrev = hash;
    fileSeq = seq;
  };
  let held: LogLine | undefined;
  let lineNo = 0;
  for await (const text of readline.createInterface({ input: createReadStream(logPath), crlfDelay: Infinity })) {
    const line = parseLine(++lineNo, text, key);
    if (held) check(held, line);
    held = line;
  }
  if (held) check(held, undefined);
  if (options.host !== undefined) {
    const missing = [...mine];
    if (missing.length > 0) report(`${logPath} lacks ${missing.length} entries host ${options.host} wrote (first: ${missing[0]})`);
  } else if (fileSeq < expectedSeq - 1) report(`${logPath} ends at entry ${fileSeq} but the audit table holds entries up to ${expectedSeq - 1}`);
  return { ok: problems.length === 0, entries: tableEntries, head: prev, keyedFrom: tableOrder.first, rolledBack, problems };
}

interface LogLine {
  readonly lineNo: number;
  readonly parsed: { seq?: unknown; prev?: unknown; mac?: unknown } | null;
  readonly seq: number;
  /** The hash the line's entry would have in the table (keyed when the line says so). */
  readonly hash: string;
}

function parseLine(lineNo: number, text: string, key: Buffer | undefined): LogLine {
  try {
    const parsed = JSON.parse(text) as { seq?: unknown; prev?: unknown; mac?: unknown };
    return { lineNo, parsed, seq: Number(parsed.seq), hash: lineHash(text, parsed.mac === KEYED ? key : undefined) };
  } catch {
    return { lineNo, parsed: null, seq: NaN, hash: lineHash(text) };
  }
}
