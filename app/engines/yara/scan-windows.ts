import { open, stat } from "node:fs/promises";
import type { RuleMatch } from "@litko/yara-x";
import type { CompiledRules } from "./yara-rules.ts";

const MiB = 1024 * 1024;
/** YARA-X (through @litko/yara-x) reads a whole file into memory: bigger files go in windows of this size. */
export const WINDOW_BYTES = 32 * MiB;
/** The file's head, put before every later window, so that rules anchored at offset 0 or 128 (magic numbers, DICM) still hold. */
const HEAD_BYTES = 64 * 1024;
/** Windows overlap by this much, so that a pattern across a window boundary is still whole in one. */
const OVERLAP_BYTES = 1 * MiB;

/**
 * Runs compiled rules over a file. Up to WINDOW_BYTES the file is scanned whole; past that in
 * overlapping windows, each after a copy of the file's head, so that memory stays bounded for
 * a 500 MB upload. Each rule is reported once, at its first match, with file offsets. What
 * windows change: a rule sees `filesize` as its window's size, so rules that use `filesize`
 * count only in the last window (whose end is the file's end); a rule whose strings lie more
 * than a window apart (other than in the head) is not matched.
 */
export async function scanFile(rules: CompiledRules, file: string): Promise<RuleMatch[]> {
  const size = (await stat(file)).size;
  if (size <= WINDOW_BYTES) return rules.engine.scanFileAsync(file);
  const handle = await open(file, "r");
  try {
    const head = Buffer.alloc(HEAD_BYTES);
    await handle.read(head, 0, HEAD_BYTES, 0);
    const buffer = Buffer.alloc(HEAD_BYTES + WINDOW_BYTES);
    head.copy(buffer);
    const found = new Map<string, RuleMatch>();
    for (let start = 0; ; start += WINDOW_BYTES - OVERLAP_BYTES) {
      const last = start + WINDOW_BYTES >= size;
      const prefix = start === 0 ? 0 : HEAD_BYTES;
      const { bytesRead } = await handle.read(buffer, prefix, Math.min(WINDOW_BYTES, size - start), start);
      const matches = await rules.engine.scanAsync(buffer.subarray(0, prefix + bytesRead));
      for (const match of matches) {
        if (found.has(match.ruleIdentifier) || (!last && rules.wholeFileRules.has(match.ruleIdentifier))) continue;
        const toFile = (offset: number) => (offset < prefix ? offset : offset - prefix + start);
        found.set(match.ruleIdentifier, { ...match, matches: match.matches.map((m) => ({ ...m, offset: toFile(m.offset) })) });
      }
      if (last) return [...found.values()];
    }
  } finally {
    await handle.close();
  }
}
