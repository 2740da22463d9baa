import net from "node:net";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { EngineError } from "../../errors/engine-error.ts";
import { type ClamdAddress, ClamdSession, connectionError, MAX_REPLY_BYTES, SessionLostError } from "./clamd-session.ts";

/** How long a session is kept unused: well within clamd's IdleTimeout (30 s in docker/clamav/clamd.conf). */
const SESSION_IDLE_MS = 10_000;
/**
 * Unused sessions kept open; more are opened while more commands run at once. clamd counts every
 * open connection against MaxQueue (64) and stops accepting new ones beyond it.
 */
const MAX_IDLE_SESSIONS = 8;
const INSTREAM = Buffer.from("zINSTREAM\0");
/** Frames are gathered up to this size before a write: a small file goes out in one. */
const WRITE_BYTES = 64 * 1024;

/**
 * clamd's INSTREAM framing: the command, each chunk after its length (4 bytes, big-endian), and
 * a zero length to end. Written here rather than taken from npm clamscan, whose framer makes two
 * writes per chunk and one for the end (a third of the worker's socket writes for a small file).
 * Small chunks are gathered into one write; a chunk that fills a write goes out as it is, never
 * copied (a 500 MB scan would otherwise copy 500 MB through the heap).
 */
export async function* instreamFrames(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let held: Buffer[] = [INSTREAM];
  let heldBytes = INSTREAM.length;
  for await (const chunk of source) {
    if (chunk.length === 0) continue;
    const length = Buffer.allocUnsafe(4);
    length.writeUInt32BE(chunk.length);
    if (heldBytes + 4 + chunk.length < WRITE_BYTES) {
      held.push(length, chunk);
      heldBytes += 4 + chunk.length;
      continue;
    }
    held.push(length);
    yield Buffer.concat(held, heldBytes + 4);
    yield chunk;
    held = [];
    heldBytes = 0;
  }
  held.push(Buffer.alloc(4));
  yield Buffer.concat(held, heldBytes + 4);
}

/**
 * clamd over TCP with a hard timeout on every request and replies bounded in size. SCAN, PING
 * and VERSION go over IDSESSION connections that are kept and reused, one command at a time on
 * each: a new connection per small file cost the worker more than clamd's own scan did. INSTREAM
 * and STATS get a connection of their own, with backpressure from the socket.
 */
export class ClamdClient {
  private readonly idle: ClamdSession[] = [];

  constructor(private readonly address: ClamdAddress) {}

  /** Streams `source` with INSTREAM and returns clamd's raw reply. */
  instream(source: Readable, signal: AbortSignal): Promise<string> {
    // A file that cannot be opened fails before the connection is up; its error then reaches
    // the pipeline below, not the process as an unhandled 'error' event.
    source.on("error", () => {});
    return this.exchange(signal, async (socket) => {
      await pipeline(instreamFrames(source), socket, { end: false });
    });
  }

  /**
   * SCAN: clamd opens the file at `file` itself, which must be an absolute path on clamd's own
   * filesystem that clamd's user may read. Returns clamd's raw reply.
   */
  scanFile(file: string, signal: AbortSignal): Promise<string> {
    if (!path.isAbsolute(file) || /[\0\r\n]/.test(file)) return Promise.reject(new EngineError("ENGINE_FAILED", "clamd can only be asked to SCAN an absolute path on one line", false));
    return this.inSession(`zSCAN ${file}\0`, signal);
  }

  /** A one-word command: PING, VERSION or STATS. */
  command(name: "PING" | "VERSION" | "STATS", signal: AbortSignal): Promise<string> {
    return name === "STATS" ? this.send(`z${name}\0`, signal) : this.inSession(`z${name}\0`, signal);
  }

  /** Ends the unused sessions. */
  close(): void {
    for (const session of this.idle.splice(0)) session.close();
  }

  private async inSession(line: string, signal: AbortSignal): Promise<string> {
    const reused = this.idle.pop();
    try {
      return await this.request(reused ?? this.openSession(), line, signal);
    } catch (err) {
      if (!(err instanceof SessionLostError)) throw err;
      if (!reused) throw err.cause;
      // clamd ended the unused session (its IdleTimeout, a restart) as the command went out,
      // before answering it: the command goes out once more, on a new connection.
      return this.request(this.openSession(), line, signal).catch((again: unknown) => {
        throw again instanceof SessionLostError ? again.cause : again;
      });
    }
  }

  private async request(session: ClamdSession, line: string, signal: AbortSignal): Promise<string> {
    const reply = await session.request(line, signal);
    if (session.open && this.idle.length < MAX_IDLE_SESSIONS) {
      session.park(SESSION_IDLE_MS);
      this.idle.push(session);
    } else session.close();
    return reply;
  }

  private openSession(): ClamdSession {
    return new ClamdSession(this.address, (gone) => {
      const at = this.idle.indexOf(gone);
      if (at >= 0) this.idle.splice(at, 1);
    });
  }

  private send(line: string, signal: AbortSignal): Promise<string> {
    return this.exchange(signal, async (socket) => {
      await new Promise<void>((resolve, reject) => socket.write(line, (err) => (err ? reject(err) : resolve())));
    });
  }

  private exchange(signal: AbortSignal, send: (socket: net.Socket) => Promise<void>): Promise<string> {
    const { host, port, timeoutMs } = this.address;
    return new Promise<string>((resolve, reject) => {
      const socket = net.createConnection({ host, port });
      const chunks: Buffer[] = [];
      let replyBytes = 0;
      let settled = false;
      const finish = (err: Error | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        socket.destroy();
        if (err) reject(err);
        else resolve(Buffer.concat(chunks).toString("utf8"));
      };
      const timer = setTimeout(
        () => finish(new EngineError("ENGINE_TIMEOUT", `clamd did not answer within ${timeoutMs} ms`, true)),
        timeoutMs,
      );
      const onAbort = () => finish(new EngineError("ENGINE_TIMEOUT", "scan aborted before clamd answered", true));
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });

      socket.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        replyBytes += chunk.length;
        if (replyBytes > MAX_REPLY_BYTES) finish(new EngineError("ENGINE_PROTOCOL", "clamd reply is too long", true));
        else if (chunk.includes(0)) finish(null);
      });
      socket.on("end", () => finish(null));
      socket.on("error", (err: NodeJS.ErrnoException) => finish(connectionError(err, chunks)));
      socket.once("connect", () => {
        send(socket).then(
          () => socket.end(),
          (err: NodeJS.ErrnoException) => finish(connectionError(err, chunks)),
        );
      });
    });
  }
}
