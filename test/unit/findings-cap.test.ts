import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { capFindings, MAX_DESCRIPTION_CHARS, MAX_FINDINGS_PER_ID, type Finding } from "../../app/verdict/findings.ts";

const finding = (id: string, description = "x", engine: Finding["engine"] = "validation"): Finding => ({ engine, id, severity: "high", verdict: "infected", description, target: "file" });

describe("findings a result lists", () => {
  it("120,000 of one id: the first few are listed, the first says how many there were", () => {
    const listed = capFindings(Array.from({ length: 120_000 }, () => finding("dicom.embedded-executable")));
    assert.equal(listed.length, MAX_FINDINGS_PER_ID);
    assert.equal(listed[0]!.occurrences, 120_000);
    assert.ok(listed.slice(1).every((f) => f.occurrences === undefined));
  });

  it("a list capped in an engine thread keeps its total when capped again", () => {
    const once = capFindings(Array.from({ length: 1000 }, () => finding("analysis.embedded-executable", "x", "analysis")));
    assert.deepEqual(capFindings([...once, finding("other")]).map((f) => f.occurrences ?? 0).filter(Boolean), [1000]);
  });

  it("ids under the cap are untouched, each engine's ids apart", () => {
    const few = [finding("a"), finding("a", "y", "yara"), finding("b")];
    assert.deepEqual(capFindings(few), few);
  });

  it("a description quoting the file is cut to length", () => {
    const [f] = capFindings([finding("dicom.unknown-transfer-syntax", `transfer syntax "${" ".repeat(200_000)}"`)]);
    assert.equal(f!.description.length, MAX_DESCRIPTION_CHARS);
  });
});
