import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

/** A received upload's size and SHA-256, read back in a hash thread (intake/file-hasher). */
export default async function hashFile(path: string): Promise<{ size: number; sha256: string }> {
  const sha256 = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
    sha256.update(chunk);
    size += chunk.length;
  }
  return { size, sha256: sha256.digest("hex") };
}
