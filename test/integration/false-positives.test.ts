import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { TIERS } from "../../app/verdict/tiers.ts";
import { describeResult, startScanStack, type ScanStack } from "../harness/scan-stack.ts";

/** pydicom's test files, from Debian's python3-pydicom: real DICOM files nobody here wrote. */
const PYDICOM = "/usr/lib/python3/dist-packages/pydicom/data/test_files";
/** dcmtk's example datasets (worklist items and queries), shipped as dumps in Debian's dcmtk; dump2dcm writes them as Part 10 files. */
const DCMTK_EXAMPLES = "/usr/share/doc/dcmtk/examples";

function isPart10(file: string): boolean {
  const fd = openSync(file, "r");
  try {
    const head = Buffer.alloc(132);
    return readSync(fd, head, 0, 132, 0) === 132 && head.toString("latin1", 128, 132) === "DICM";
  } finally {
    closeSync(fd);
  }
}

/** dcmtk's dcmdump reads it with exit 0 and says nothing on stderr: no error, no warning. */
function dcmdumpReadsCleanly(file: string): boolean {
  const run = spawnSync("dcmdump", ["-M", file], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  return run.status === 0 && run.stderr.trim() === "" && !/^[EW]: /m.test(run.stdout);
}

const files = readdirSync(PYDICOM, { recursive: true, encoding: "utf8" })
  .map((f) => path.join(PYDICOM, f))
  .filter((f) => statSync(f).isFile() && isPart10(f))
  .sort();
const dumps = readdirSync(DCMTK_EXAMPLES, { recursive: true, encoding: "utf8" })
  .filter((f) => f.endsWith(".dump"))
  .map((f) => path.join(DCMTK_EXAMPLES, f))
  .sort();
const dcmtkDir = mkdtempSync(path.join(os.tmpdir(), "msd-dcmtk-"));
const dcmtkFiles = dumps.map((dump) => {
  const out = path.join(dcmtkDir, `${path.basename(path.dirname(dump))}-${path.basename(dump, ".dump")}.dcm`);
  const run = spawnSync("dump2dcm", ["-q", dump, out], { encoding: "utf8" });
  assert.equal(run.status, 0, `dump2dcm ${dump}: ${run.stderr}`);
  return out;
});
const readable = [...files, ...dcmtkFiles].filter(dcmdumpReadsCleanly);
const label = (file: string) => (file.startsWith(PYDICOM) ? `pydicom/${path.relative(PYDICOM, file)}` : `dcmtk/${path.basename(file)}`);

describe("false positives: every real DICOM file (pydicom's test data, dcmtk's examples) dcmdump reads without complaint is clean at every tier", { timeout: 600_000 }, () => {
  let stack: ScanStack;
  before(async () => {
    stack = await startScanStack();
  });
  after(async () => {
    await stack.close();
    rmSync(dcmtkDir, { recursive: true, force: true });
  });

  it("finds pydicom's test files, dcmtk's examples and dcmdump", () => {
    assert.ok(files.length >= 60, `${files.length} pydicom Part 10 files`);
    assert.ok(dcmtkFiles.length >= 20, `${dcmtkFiles.length} dcmtk examples`);
    assert.ok(readable.length >= 60, `${readable.length} read cleanly by dcmdump`);
  });

  for (const tier of TIERS) {
    it(`${tier}: the false-positive rate is zero`, async () => {
      const flagged: string[] = [];
      for (const file of readable) {
        const r = await stack.scan(file, tier);
        if (r.status !== "clean") flagged.push(`${label(file)}: ${describeResult(r)}`);
      }
      assert.deepEqual(flagged, [], `${flagged.length} of ${readable.length} flagged at ${tier}`);
    });
  }
});
