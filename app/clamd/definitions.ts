import { createHash } from "node:crypto";
import { open, readdir, stat } from "node:fs/promises";
import path from "node:path";

/** The builder name scripts/make-test-definitions.sh writes into its database header. */
export const TEST_DEFINITIONS_BUILDER = "medical-scan-daemon-test";

/** Database files clamd loads from its DatabaseDirectory (signed, unsigned and plain signature files). */
const DATABASE_FILE = /\.(c[lvu]d|[hm]db|[hm]sb|imp|ndb|ndu|ldb|ldu|cdb|cbc|cat|crb|pdb|gdb|wdb|idb|ftm|fp|sfp|ign2?|pwdb|yara?)$/;

export interface DefinitionsOnDisk {
  /** How many database files the folder holds. */
  readonly files: number;
  /** Only the development signature set: no official main or daily database. */
  readonly testOnly: boolean;
  /** Changes whenever a database file is added, removed or rewritten. */
  readonly fingerprint: string;
  /** When the newest database file was written, or null with none. */
  readonly newestAt: number | null;
}

/**
 * What ClamAV's database folder holds, read from the files themselves: whether there are any,
 * whether they are only the test set, and a fingerprint that changes with every update
 * (a DatabaseCustomURL file changes no version number clamd reports).
 */
export async function readDefinitions(dir: string): Promise<DefinitionsOnDisk> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => DATABASE_FILE.test(n)).sort();
  const hash = createHash("sha256");
  let newestAt: number | null = null;
  let official = false;
  for (const name of names) {
    const s = await stat(path.join(dir, name)).catch(() => null);
    if (!s) continue;
    hash.update(`${name}\0${s.size}\0${s.mtimeMs}\n`);
    newestAt = Math.max(newestAt ?? 0, s.mtimeMs);
    if (/^(main|daily)\.c[lvu]d$/.test(name) && (await builder(path.join(dir, name))) !== TEST_DEFINITIONS_BUILDER) official = true;
  }
  return { files: names.length, testOnly: names.length > 0 && !official, fingerprint: hash.digest("hex").slice(0, 16), newestAt };
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
