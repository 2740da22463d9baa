import net from "node:net";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { EngineError } from "../../errors/engine-error.ts";

export interface ClamdAddress {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
}

const MAX_REPLY_BYTES = 4096;
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
 * clamd over TCP, one connection per request, with backpressure from the socket, a hard
 * timeout that destroys it, and a reply bounded in size.
 */
export class ClamdClient {
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
    return this.send(`zSCAN ${file}\0`, signal);
  }

  /** A one-word command: PING, VERSION or STATS. */
  command(name: "PING" | "VERSION" | "STATS", signal: AbortSignal): Promise<string> {
    return this.send(`z${name}\0`, signal);
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
      socket.on("error", (err: NodeJS.ErrnoException) => finish(toEngineError(err, chunks)));
      socket.once("connect", () => {
        send(socket).then(
          () => socket.end(),
          (err: NodeJS.ErrnoException) => finish(toEngineError(err, chunks)),
        );
      });
    });
  }
}

function toEngineError(err: NodeJS.ErrnoException, chunks: Buffer[]): EngineError {
  const reply = Buffer.concat(chunks).toString("utf8").replace(/\0/g, "").trim();
  const detail = reply ? `${err.message} (clamd said ${JSON.stringify(reply.slice(0, 200))})` : err.message;
  if (err.code === "ECONNREFUSED" || err.code === "ENOTFOUND" || err.code === "EHOSTUNREACH") {
    return new EngineError("ENGINE_UNAVAILABLE", `clamd is not reachable: ${detail}`, true, { cause: err });
  }
  return new EngineError("ENGINE_FAILED", `clamd connection failed: ${detail}`, true, { cause: err });
}
