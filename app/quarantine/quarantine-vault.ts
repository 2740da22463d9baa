import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { chmod, mkdir, open, rm, stat } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fsyncPath, moveDurably } from "../intake/durable-fs.ts";

const MAGIC = Buffer.from("MSDQ1");
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = MAGIC.length + IV_BYTES;

/**
 * The quarantine folder: mode 0700, each file 0600 and named by its quarantine id. With a key,
 * files are AES-256-GCM encrypted at rest (MAGIC | IV | ciphertext | tag), so a copied volume
 * or backup does not hand out live malware or patient data.
 */
export class QuarantineVault {
  constructor(
    readonly dir: string,
    private readonly key?: Buffer,
  ) {}

  get encrypts(): boolean {
    return this.key !== undefined;
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await chmod(this.dir, 0o700);
  }

  pathFor(id: string): string {
    return path.join(this.dir, id);
  }

  /** Takes `source` in and removes it; after a crash the file is in one place, never in none. */
  async admit(source: string, id: string): Promise<string> {
    const dest = this.pathFor(id);
    if (!this.key) {
      await chmod(source, 0o600);
      await moveDurably(source, dest);
      return dest;
    }
    const partial = `${dest}.part`;
    try {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv("aes-256-gcm", this.key, iv);
      const out = createWriteStream(partial, { mode: 0o600, flags: "wx" });
      out.write(Buffer.concat([MAGIC, iv]));
      await pipeline(createReadStream(source), cipher, out, { end: false });
      await new Promise<void>((resolve, reject) => out.end(cipher.getAuthTag(), (err?: Error | null) => (err ? reject(err) : resolve())));
      await fsyncPath(partial);
      await moveDurably(partial, dest);
    } finally {
      await rm(partial, { force: true });
    }
    await rm(source);
    await fsyncPath(path.dirname(source));
    return dest;
  }

  /** Writes the original bytes to `dest` (0600); the quarantined copy stays until removed. */
  async extract(entryPath: string, encrypted: boolean, dest: string): Promise<void> {
    if (!encrypted) {
      await pipeline(createReadStream(entryPath), createWriteStream(dest, { mode: 0o600, flags: "wx" }));
    } else {
      if (!this.key) throw new Error("quarantine entry is encrypted but QUARANTINE_ENCRYPTION_KEY is not set");
      const { size } = await stat(entryPath);
      const head = Buffer.alloc(HEADER_BYTES);
      const tag = Buffer.alloc(TAG_BYTES);
      const handle = await open(entryPath, "r");
      try {
        await handle.read(head, 0, HEADER_BYTES, 0);
        await handle.read(tag, 0, TAG_BYTES, size - TAG_BYTES);
      } finally {
        await handle.close();
      }
      if (!head.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error("quarantine entry is not in the encrypted format");
      const decipher = createDecipheriv("aes-256-gcm", this.key, head.subarray(MAGIC.length));
      decipher.setAuthTag(tag);
      try {
        // GCM authenticates at the end: a tampered entry fails here and its output is deleted.
        const ciphertext = size > HEADER_BYTES + TAG_BYTES ? createReadStream(entryPath, { start: HEADER_BYTES, end: size - TAG_BYTES - 1 }) : Readable.from([]);
        await pipeline(ciphertext, decipher, createWriteStream(dest, { mode: 0o600, flags: "wx" }));
      } catch (err) {
        await rm(dest, { force: true });
        throw err;
      }
    }
    await fsyncPath(dest);
  }

  async remove(entryPath: string): Promise<void> {
    await rm(entryPath, { force: true });
    await fsyncPath(this.dir);
  }
}
