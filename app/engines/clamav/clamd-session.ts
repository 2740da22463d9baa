import net from "node:net";
import { EngineError } from "../../errors/engine-error.ts";

export interface ClamdAddress {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
}

export const MAX_REPLY_BYTES = 4096;

/**
 * The session ended before any byte of the reply arrived (clamd closed it, or the connection
 * failed), so the command may be sent again on another. `cause` is the error to report if not.
 */
export class SessionLostError extends Error {
  constructor(override readonly cause: EngineError) {
    super(cause.message);
  }
}

interface Pending {
  readonly id: number;
  readonly chunks: Buffer[];
  bytes: number;
  settle(err: Error | null, reply?: string): void;
}

/**
 * One clamd IDSESSION: a connection that carries one command after another, clamd tagging each
 * reply with the command's number. One caller at a time sends on it and reads one reply, so a
 * reply with another number, bytes after the reply, or bytes nobody asked for end the session
 * with a protocol error. A timeout or an abort ends it too: a late reply must never be taken for
 * the next command's.
 */
export class ClamdSession {
  private readonly socket: net.Socket;
  private sent = 0;
  private pending: Pending | null = null;
  private gone = false;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly address: ClamdAddress,
    private readonly onGone: (session: ClamdSession) => void,
  ) {
    this.socket = net.createConnection({ host: address.host, port: address.port });
    // Each command is a small write that waits for its reply: Nagle's algorithm would hold one
    // behind clamd's delayed ACK of the one before.
    this.socket.setNoDelay(true);
    this.socket.write("zIDSESSION\0");
    this.socket.on("data", (chunk: Buffer) => this.receive(chunk));
    this.socket.on("error", (err: NodeJS.ErrnoException) => this.lost(connectionError(err, this.pending?.chunks ?? [])));
    this.socket.on("close", () => this.lost(new EngineError("ENGINE_FAILED", "clamd closed the session without answering", true)));
  }

  /** Sends `line` (one z-command) and resolves with clamd's reply to it, its number taken off. */
  request(line: string, signal: AbortSignal): Promise<string> {
    if (this.gone) return Promise.reject(new SessionLostError(new EngineError("ENGINE_FAILED", "the clamd session has ended", true)));
    this.unpark();
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => this.fail(new EngineError("ENGINE_TIMEOUT", `clamd did not answer within ${this.address.timeoutMs} ms`, true)),
        this.address.timeoutMs,
      );
      const onAbort = () => this.fail(new EngineError("ENGINE_TIMEOUT", "scan aborted before clamd answered", true));
      this.pending = {
        id: ++this.sent,
        chunks: [],
        bytes: 0,
        settle: (err, reply) => {
          clearTimeout(timer);
          signal.removeEventListener("abort", onAbort);
          this.pending = null;
          if (err) reject(err);
          else resolve(reply!);
        },
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      this.socket.write(line);
    });
  }

  /** Kept unused for `ms` at most (within clamd's IdleTimeout), then ended; it holds no process open meanwhile. */
  park(ms: number): void {
    this.socket.unref();
    this.idleTimer = setTimeout(() => this.close(), ms);
    this.idleTimer.unref();
  }

  get open(): boolean {
    return !this.gone;
  }

  /** Ends the session the way clamd expects (END), unless a command is still waiting. */
  close(): void {
    if (this.gone) return;
    if (this.pending) return this.fail(new EngineError("ENGINE_FAILED", "the clamd session was closed", true));
    this.gone = true;
    clearTimeout(this.idleTimer);
    this.socket.end("zEND\0");
    this.onGone(this);
  }

  private unpark(): void {
    clearTimeout(this.idleTimer);
    this.socket.ref();
  }

  private receive(chunk: Buffer): void {
    const pending = this.pending;
    if (!pending) return this.fail(new EngineError("ENGINE_PROTOCOL", "clamd sent bytes no command asked for", true));
    pending.chunks.push(chunk);
    pending.bytes += chunk.length;
    if (pending.bytes > MAX_REPLY_BYTES) return this.fail(new EngineError("ENGINE_PROTOCOL", "clamd reply is too long", true));
    const reply = Buffer.concat(pending.chunks);
    const end = reply.indexOf(0);
    if (end < 0) return;
    const text = reply.toString("utf8");
    if (end !== reply.length - 1) return this.fail(new EngineError("ENGINE_PROTOCOL", `clamd sent more than one reply: ${JSON.stringify(text.slice(0, 200))}`, true));
    const prefix = `${pending.id}: `;
    if (!text.startsWith(prefix)) return this.fail(new EngineError("ENGINE_PROTOCOL", `clamd's reply is not numbered for command ${pending.id}: ${JSON.stringify(text.slice(0, 200))}`, true));
    pending.settle(null, text.slice(prefix.length));
  }

  /** The connection failed or closed: a command with no byte of its reply yet may go out again elsewhere. */
  private lost(cause: EngineError): void {
    this.fail(this.pending && this.pending.bytes === 0 ? new SessionLostError(cause) : cause);
  }

  private fail(err: Error): void {
    const pending = this.pending;
    if (!this.gone) {
      this.gone = true;
      clearTimeout(this.idleTimer);
      this.socket.destroy();
      this.onGone(this);
    }
    pending?.settle(err);
  }
}

/** A failed clamd connection as the engine error the pipeline maps: unreachable, or failed mid-way. */
export function connectionError(err: NodeJS.ErrnoException, chunks: readonly Buffer[]): EngineError {
  const reply = Buffer.concat(chunks).toString("utf8").replace(/\0/g, "").trim();
  const detail = reply ? `${err.message} (clamd said ${JSON.stringify(reply.slice(0, 200))})` : err.message;
  if (err.code === "ECONNREFUSED" || err.code === "ENOTFOUND" || err.code === "EHOSTUNREACH") {
    return new EngineError("ENGINE_UNAVAILABLE", `clamd is not reachable: ${detail}`, true, { cause: err });
  }
  return new EngineError("ENGINE_FAILED", `clamd connection failed: ${detail}`, true, { cause: err });
}
