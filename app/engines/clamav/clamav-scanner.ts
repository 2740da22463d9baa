import { createReadStream } from "node:fs";
import path from "node:path";
import type { ClamdClient } from "./clamd-client.ts";
import { isPathRefusal, parseInstreamReply, parseScanReply, parseVersionReply, type ClamdVerdict } from "./clamd-reply.ts";
import { fingerprintDefinitions, readDefinitions } from "./definitions.ts";
import { withTimeoutSignal } from "../../deadline.ts";
import { EngineError } from "../../errors/engine-error.ts";
import type { Finding } from "../../verdict/findings.ts";
import { NextRun } from "../../next-run.ts";
import { readChunkBytes } from "../../scan/read-chunk.ts";
import type { EngineVersion, ScanContext, ScanOutcome, Scanner, ScanTarget } from "../../scan/scanner.ts";

/** How long clamd may take to reload after its database files change (NotifyClamd, ConcurrentDatabaseReload). */
const RELOAD_GRACE_MS = 120_000;
/** How long one VERSION answer serves the scans that start after it (never a cache hit: see version). */
const VERSION_REUSE_MS = 500;
/** How long the PING that confirms clean SCAN answers may take (see scanTarget). */
const CONFIRM_TIMEOUT_MS = 5000;

export interface ClamavOptions {
  /** clamd's DatabaseDirectory when this process can read it (CLAMAV_DB_DIR). */
  readonly dbDir?: string;
  /**
   * A folder clamd reads itself (the stored files, when clamd shares this filesystem): a file in
   * it is scanned by path (SCAN), which spares sending it and clamd writing a copy of it.
   */
  readonly sharedDir?: string;
  /** Told when clamd may not open a file in `sharedDir`, which is then streamed instead. */
  readonly onPathRefused?: (reply: string) => void;
}

/**
 * ClamAV signatures through clamd, for the file and everything validation derived from it
 * (inflated datasets, carved executables): by path for a stored file clamd may read, otherwise
 * streamed with INSTREAM. Detects what the loaded databases know; misses anything past clamd's
 * limits, which clamd.conf turns into Heuristics.Limits.Exceeded alerts (reported as
 * suspicious: "could not be fully scanned").
 */
export class ClamavScanner implements Scanner {
  readonly name = "clamav" as const;
  private recent: { readonly at: number; readonly answer: Promise<EngineVersion> } | undefined;
  private signatureSet: { readonly fingerprint: string; readonly testOnly: boolean } | undefined;
  /** One PING for the clean SCAN answers that arrived before it was sent. */
  private readonly stillRunning = new NextRun(() => this.ping());

  constructor(
    private readonly clamd: Pick<ClamdClient, "instream" | "scanFile" | "command">,
    private readonly options: ClamavOptions = {},
  ) {}

  /**
   * One VERSION round trip serves the scans that start within half a second: a busy gate asks
   * clamd once, not once per file. That answer only labels fresh scans, whose own INSTREAM
   * proves clamd is up; a cached verdict is served only on a `fresh` answer, which is the proof
   * that clamd is up now and has loaded the definitions the verdict was made with. The answer
   * names the database version clamd has loaded. Without official or versioned databases
   * clamd names none; then which signatures ran cannot be told and the result is not cached (the files on disk may be newer than what clamd has loaded).
   * With the database folder in reach, its fingerprint joins the label: a DatabaseCustomURL
   * update changes no version clamd reports, and must still end every cached verdict. Until
   * clamd has had time to reload an update, nothing is cached.
   */
  version(_request?: unknown, fresh = false): Promise<EngineVersion> {
    const now = Date.now();
    if (!fresh && this.recent && now - this.recent.at < VERSION_REUSE_MS) return this.recent.answer;
    const answer = this.ask();
    const recent = { at: now, answer };
    this.recent = recent;
    // A failed answer is never reused.
    answer.catch(() => {
      if (this.recent === recent) this.recent = undefined;
    });
    return answer;
  }

  private async ask(): Promise<EngineVersion> {
    const raw = await withTimeoutSignal(5000, (signal) => this.clamd.command("VERSION", signal));
    const parsed = parseVersionReply(raw);
    const { dbDir } = this.options;
    if (!parsed) throw new EngineError("ENGINE_PROTOCOL", `unreadable clamd VERSION reply ${JSON.stringify(raw.slice(0, 100))}`, true);
    if (!parsed.database) return { label: `${parsed.engine}/unversioned-databases`, cacheable: false };
    if (!dbDir) return { label: `${parsed.engine}/${parsed.database}`, cacheable: true };
    const defs = await fingerprintDefinitions(dbDir);
    // Whether only the development set is loaded takes opening the database headers: once per set of files.
    if (this.signatureSet?.fingerprint !== defs.fingerprint) this.signatureSet = { fingerprint: defs.fingerprint, testOnly: (await readDefinitions(dbDir)).testOnly };
    return {
      label: `${parsed.engine}/${parsed.database}/files-${defs.fingerprint}`,
      cacheable: defs.newestAt === null || Date.now() - defs.newestAt > RELOAD_GRACE_MS,
      ...(this.signatureSet.testOnly ? { development: true } : {}),
    };
  }

  async scan(ctx: ScanContext): Promise<ScanOutcome> {
    const findings: Finding[] = [];
    for (const [i, target] of ctx.targets.entries()) {
      const verdict = await this.scanTarget(target, ctx);
      if (verdict.kind === "found") findings.push(classify(verdict.signature, target.label));
      ctx.progress((i + 1) / ctx.targets.length);
    }
    return { findings };
  }

  private async scanTarget(target: ScanTarget, ctx: ScanContext): Promise<ClamdVerdict> {
    const { sharedDir, onPathRefused } = this.options;
    if (sharedDir && target.path.startsWith(sharedDir + path.sep)) {
      const raw = await this.clamd.scanFile(target.path, ctx.signal);
      if (!isPathRefusal(raw, target.path)) {
        const verdict = definite(parseScanReply(raw, target.path), raw);
        // A clamd that is stopping answers "PATH: OK" to a SCAN it never ran: on SIGTERM it
        // marks every connection's work as ended, its scan callback then skips the file, and
        // the command reports no detection (seen in the outage test; INSTREAM answers nothing
        // instead). Only a clamd that still takes commands after the answer scanned the file.
        if (verdict.kind === "clean") await this.stillRunning.run();
        return verdict;
      }
      onPathRefused?.(raw.replace(/\0/g, ""));
    }
    const raw = await this.clamd.instream(createReadStream(target.path, { highWaterMark: readChunkBytes(target.role === "file" ? ctx.facts?.size : undefined) }), ctx.signal);
    return definite(parseInstreamReply(raw), raw);
  }

  private async ping(): Promise<void> {
    const reply = await withTimeoutSignal(CONFIRM_TIMEOUT_MS, (signal) => this.clamd.command("PING", signal)).catch((err: unknown) => {
      throw new EngineError("ENGINE_UNAVAILABLE", `clamd stopped as it answered OK, so the file may not have been scanned: ${err instanceof Error ? err.message : String(err)}`, true, { cause: err });
    });
    if (reply.replace(/\0$/, "") !== "PONG") throw new EngineError("ENGINE_PROTOCOL", `clamd answered OK, then PING with ${JSON.stringify(reply.replace(/\0/g, "").slice(0, 100))}: the OK is not trusted`, true);
  }
}

function definite(verdict: ClamdVerdict | null, raw: string): ClamdVerdict {
  if (verdict) return verdict;
  throw new EngineError("ENGINE_PROTOCOL", `clamd gave no definite answer: ${JSON.stringify(raw.replace(/\0/g, "").slice(0, 200))}`, true);
}

function classify(signature: string, target: string): Finding {
  if (signature.startsWith("Heuristics.Limits.Exceeded") || signature.startsWith("Heuristics.Encrypted")) {
    return { engine: "clamav", id: signature, severity: "medium", verdict: "suspicious", description: "ClamAV could not fully scan this content (a limit was reached or it is encrypted)", target };
  }
  if (signature.startsWith("Heuristics.")) {
    return { engine: "clamav", id: signature, severity: "high", verdict: "suspicious", description: `ClamAV heuristic ${signature}`, target };
  }
  return { engine: "clamav", id: signature, severity: "high", verdict: "infected", description: `ClamAV signature ${signature}`, target };
}
