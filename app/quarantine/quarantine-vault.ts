import { createCipheriv, createDecipheriv, createHash, randomBytes, type DecipherGCM } from "node:crypto";
import { createReadStream } from "node:fs";
import { chmod, mkdir, open, rm, stat } from "node:fs/promises";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { DurableWriteStream, fsyncPath, moveDurably } from "../intake/durable-fs.ts";

/** MSDQ2 binds the ciphertext to its entry id (GCM additional data); MSDQ1, from before, does not. */
const MAGIC = Buffer.from("MSDQ2");
const LEGACY_MAGIC = Buffer.from("MSDQ1");
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = MAGIC.length + IV_BYTES;

/**
 * The quarantine folder: mode 0700, each file 0600 and named by its quarantine id. With a key,
 * files are AES-256-GCM encrypted at rest (MAGIC | IV | ciphertext | tag) with the entry id as
 * additional data, so a copied volume or backup does not hand out live malware or patient
 * data, and two entries' files swapped on disk do not decrypt.
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
      cipher.setAAD(Buffer.from(id));
      const out = new DurableWriteStream(partial, { mode: 0o600, flags: "wx" });
      out.write(Buffer.concat([MAGIC, iv]));
      await pipeline(createReadStream(source), cipher, out, { end: false });
      await new Promise<void>((resolve, reject) => out.end(cipher.getAuthTag(), (err?: Error | null) => (err ? reject(err) : resolve())));
      await moveDurably(partial, dest);
    } finally {
      await rm(partial, { force: true });
    }
    await rm(source);
    await fsyncPath(path.dirname(source));
    return dest;
  }

  /**
   * Writes the original bytes of entry `id` to `dest` (0600) and returns their SHA-256; the
   * quarantined copy stays until removed. A failure leaves no `dest` behind.
   */
  async extract(entryPath: string, encrypted: boolean, dest: string, id: string): Promise<string> {
    const hash = createHash("sha256");
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      const out = new DurableWriteStream(dest, { mode: 0o600, flags: "wx" });
      if (!encrypted) await pipeline(createReadStream(entryPath), hashing, out);
      else await pipeline(...(await this.decrypting(entryPath, id)), hashing, out);
    } catch (err) {
      // GCM authenticates at the end: a tampered or swapped entry fails here.
      await rm(dest, { force: true });
      throw err;
    }
    return hash.digest("hex");
  }

  private async decrypting(entryPath: string, id: string): Promise<[Readable, DecipherGCM]> {
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
    const magic = head.subarray(0, MAGIC.length);
    if (!magic.equals(MAGIC) && !magic.equals(LEGACY_MAGIC)) throw new Error("quarantine entry is not in the encrypted format");
    const decipher = createDecipheriv("aes-256-gcm", this.key, head.subarray(MAGIC.length));
    if (magic.equals(MAGIC)) decipher.setAAD(Buffer.from(id));
    decipher.setAuthTag(tag);
    const ciphertext = size > HEADER_BYTES + TAG_BYTES ? createReadStream(entryPath, { start: HEADER_BYTES, end: size - TAG_BYTES - 1 }) : Readable.from([]);
    return [ciphertext, decipher];
  }

  async remove(entryPath: string): Promise<void> {
    await rm(entryPath, { force: true });
    await fsyncPath(this.dir);
  }
}
