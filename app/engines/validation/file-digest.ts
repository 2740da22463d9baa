import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readChunkBytes } from "../../scan/read-chunk.ts";

export interface FileDigest {
  readonly size: number;
  readonly sha256: string;
  /** The first bytes, for type detection. */
  readonly head: Buffer;
}

export const HEAD_BYTES = 8192;

/** One streaming pass: the SHA-256 and the head, whatever the file's size. */
export async function digestFile(path: string, signal: AbortSignal, onProgress: (bytes: number) => void, expectedSize?: number): Promise<FileDigest> {
  const sha256 = createHash("sha256");
  const headParts: Buffer[] = [];
  let headBytes = 0;
  let size = 0;
  for await (const chunk of createReadStream(path, { signal, highWaterMark: readChunkBytes(expectedSize) }) as AsyncIterable<Buffer>) {
    sha256.update(chunk);
    if (headBytes < HEAD_BYTES) {
      headParts.push(chunk.subarray(0, HEAD_BYTES - headBytes));
      headBytes += Math.min(chunk.length, HEAD_BYTES - headBytes);
    }
    size += chunk.length;
    onProgress(size);
  }
  return { size, sha256: sha256.digest("hex"), head: Buffer.concat(headParts) };
}
