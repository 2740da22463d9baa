import assert from "node:assert/strict";
import { open, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { scanFile, WINDOW_BYTES } from "../../app/engines/yara/scan-windows.ts";
import { compileDir, rulesUsingFilesize, type CompiledRules } from "../../app/engines/yara/yara-rules.ts";
import { ROOT } from "../harness/clamd.ts";
import { buildDicom } from "../fixtures/dicom.ts";

const PNG_IEND = Buffer.from([0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A sparse file of `size` bytes: `head` at 0 and each piece at its offset, zeros elsewhere. */
async function sparse(file: string, size: number, pieces: [number, Buffer][]): Promise<string> {
  const handle = await open(file, "w");
  try {
    await handle.truncate(size);
    for (const [at, data] of pieces) await handle.write(data, 0, data.length, at);
  } finally {
    await handle.close();
  }
  return file;
}

describe("YARA-X over files bigger than a window", () => {
  let dir: string;
  let rules: CompiledRules;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "msd-yara-"));
    rules = await compileDir(path.join(ROOT, "rules/yara"));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("a DICOM with a script 100 MB in is matched, at the file offset, also across a window boundary", async () => {
    const dicom = buildDicom();
    for (const at of [100 * 1024 * 1024, WINDOW_BYTES - 3]) {
      const file = await sparse(path.join(dir, `script-${at}.dcm`), 120 * 1024 * 1024, [[0, dicom], [at, Buffer.from("<script>alert(1)</script>")]]);
      const hit = (await scanFile(rules, file)).find((m) => m.ruleIdentifier === "DICOM_Script_In_Tags");
      assert.equal(hit?.matches[0]?.offset, at);
    }
  });

  it("a rule that uses filesize counts only in the last window: IEND mid-file is not data after the end, IEND near the end is", async () => {
    const size = 80 * 1024 * 1024;
    const middle = await sparse(path.join(dir, "mid.png"), size, [[0, PNG_MAGIC], [40 * 1024 * 1024, PNG_IEND], [size - 8, PNG_IEND]]);
    assert.ok(!(await scanFile(rules, middle)).some((m) => m.ruleIdentifier === "Data_After_PNG_End"));
    const trailing = await sparse(path.join(dir, "tail.png"), size, [[0, PNG_MAGIC], [size - 1000, PNG_IEND]]);
    assert.ok((await scanFile(rules, trailing)).some((m) => m.ruleIdentifier === "Data_After_PNG_End"));
  });

  it("finds the rules whose condition uses filesize", () => {
    const source = 'rule A { condition: filesize > 10 }\nprivate rule B : tag { strings: $a = "x" condition: $a }\nrule C { condition: uint8(0) == 1 and filesize < 5 }';
    assert.deepEqual(rulesUsingFilesize(source), ["A", "C"]);
  });
});
