import { createHash } from "node:crypto";
import { open, readdir, stat } from "node:fs/promises";
import path from "node:path";

/** The builder name scripts/make-test-definitions.sh writes into its database header. */
export const TEST_DEFINITIONS_BUILDER = "medical-scan-daemon-test";

/** Database files clamd loads from its DatabaseDirectory (signed, unsigned and plain signature files). */
const DATABASE_FILE = /\.(c[lvu]d|[hm]db|[hm]sb|imp|ndb|ndu|ldb|ldu|cdb|cbc|cat|crb|pdb|gdb|wdb|idb|ftm|fp|sfp|ign2?|pwdb|yara?)$/;

export interface DefinitionsFingerprint {
  /** The database files in the folder, sorted. */
  readonly names: readonly string[];
  /** Changes whenever a database file is added, removed or rewritten. */
  readonly fingerprint: string;
  /** When the newest database file was written, or null with none. */
  readonly newestAt: number | null;
}

export interface DefinitionsOnDisk extends DefinitionsFingerprint {
  /** An official main or daily database is there. */
  readonly official: boolean;
  /** Only the development signature set: no official database and none of the site's own. */
  readonly testOnly: boolean;
}

/**
 * The database folder's files by name, size and time only (no file is opened): cheap enough
 * for every scan. A DatabaseCustomURL file changes no version number clamd reports, so this
 * is what tells that the definitions changed.
 */
export async function fingerprintDefinitions(dir: string): Promise<DefinitionsFingerprint> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => DATABASE_FILE.test(n)).sort();
  const hash = createHash("sha256");
  let newestAt: number | null = null;
  for (const name of names) {
    const s = await stat(path.join(dir, name)).catch(() => null);
    if (!s) continue;
    hash.update(`${name}\0${s.size}\0${s.mtimeMs}\n`);
    newestAt = Math.max(newestAt ?? 0, s.mtimeMs);
  }
  return { names, fingerprint: hash.digest("hex").slice(0, 16), newestAt };
}

/** The fingerprint, and whether the folder holds official databases or only the test set (read from the CVD headers), for readiness. */
export async function readDefinitions(dir: string): Promise<DefinitionsOnDisk> {
  const found = await fingerprintDefinitions(dir);
  let official = false;
  let test = 0;
  for (const name of found.names.filter((n) => /^(main|daily)\.c[lvu]d$/.test(n))) {
    if ((await builder(path.join(dir, name))) === TEST_DEFINITIONS_BUILDER) test++;
    else official = true;
  }
  return { ...found, official, testOnly: test > 0 && test === found.names.length };
}

/** The builder field of a CVD-format header ("ClamAV-VDB:date:version:sigs:level:md5:dsig:builder:time"). */
async function builder(file: string): Promise<string | null> {
  const fh = await open(file, "r").catch(() => null);
  if (!fh) return null;
  try {
    const buf = Buffer.alloc(512);
    await fh.read(buf, 0, 512, 0);
    const fields = buf.toString("latin1").split(":");
    return fields[0] === "ClamAV-VDB" ? (fields[7] ?? null) : null;
  } finally {
    await fh.close();
  }
}
