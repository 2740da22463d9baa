import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { heuristicFinding, type Finding } from "../../app/verdict/findings.ts";
import { scoreFindings, STATUS_RECOMMENDATION, type EngineRun } from "../../app/verdict/scoring.ts";

const ran: EngineRun = { ran: true, ms: 1 };
const failed: EngineRun = { ran: false, ms: 1, error: { code: "ENGINE_UNAVAILABLE", message: "down", retryable: true } };
const clamHit: Finding = { engine: "clamav", id: "Eicar", severity: "high", verdict: "infected", description: "", target: "file" };
const yaraSuspicious: Finding = { engine: "yara", id: "PDF_Launch_Action", severity: "high", verdict: "suspicious", description: "", target: "file" };
const yaraInfected: Finding = { engine: "yara", id: "DICOM_Preamble_PE", severity: "high", verdict: "infected", description: "", target: "file" };
const info = heuristicFinding("analysis", "analysis.high-entropy-region", "x");
const malformed = heuristicFinding("validation", "dicom.truncated", "x");

describe("scoreFindings: the verdict table, row by row", () => {
  it("1. an infected finding makes it infected, even when another engine failed", () => {
    const v = scoreFindings([clamHit], { validation: ran, clamav: ran, yara: failed }, "premium");
    assert.equal(v.status, "infected");
    assert.equal(v.threatLevel, "high");
    assert.equal(v.confidence, 99);
  });
  it("1. two engines flagging an infected file make it critical", () => {
    const v = scoreFindings([yaraInfected, malformed], { validation: ran, clamav: ran, yara: ran }, "premium");
    assert.deepEqual([v.status, v.threatLevel, v.confidence], ["infected", "critical", 99]);
  });
  it("1. a single non-ClamAV infected finding has confidence 90", () => {
    const v = scoreFindings([yaraInfected], { validation: ran, clamav: ran, yara: ran }, "premium");
    assert.deepEqual([v.status, v.threatLevel, v.confidence], ["infected", "high", 90]);
  });
  it("2. a failed required engine without an infected finding is an error", () => {
    const v = scoreFindings([yaraSuspicious], { validation: ran, clamav: failed, yara: ran }, "premium");
    assert.deepEqual([v.status, v.threatLevel, v.confidence], ["error", "high", 0]);
  });
  it("2. an engine that did not run is an error even with no findings", () => {
    const v = scoreFindings([], { validation: ran, clamav: { ran: false, ms: 0 } }, "free");
    assert.deepEqual([v.status, v.threatLevel], ["error", "medium"]);
  });
  it("2. an advisory engine (VirusTotal) failing does not block a verdict", () => {
    const v = scoreFindings([], { validation: ran, clamav: ran, virustotal: failed }, "free");
    assert.equal(v.status, "clean");
  });
  it("3. suspicious findings make it suspicious at their highest severity", () => {
    const v = scoreFindings([malformed, yaraSuspicious], { validation: ran, clamav: ran, yara: ran }, "premium");
    assert.deepEqual([v.status, v.threatLevel, v.confidence], ["suspicious", "high", 70]);
  });
  it("3. suspicious confidence is capped at 85", () => {
    const extra: Finding = { ...yaraSuspicious, engine: "analysis", id: "analysis.pdf-launch" };
    const clam: Finding = { ...yaraSuspicious, engine: "clamav", id: "Heuristics.Limits.Exceeded.MaxFileSize" };
    const v = scoreFindings([malformed, yaraSuspicious, extra, clam], { validation: ran, clamav: ran, yara: ran, analysis: ran }, "gold");
    assert.equal(v.confidence, 85);
  });
  it("4. nothing but informational findings is clean, with the tier's confidence", () => {
    for (const [tier, c] of [["free", 70], ["premium", 80], ["gold", 90], ["enterprise", 90]] as const) {
      const v = scoreFindings([info], { validation: ran, clamav: ran }, tier);
      assert.deepEqual([v.status, v.threatLevel, v.confidence], ["clean", "clean", c]);
      assert.deepEqual(v.recommendations, [STATUS_RECOMMENDATION.clean]);
    }
  });
  it("recommendations: the status first, then each heuristic's once", () => {
    const v = scoreFindings([malformed, malformed], { validation: ran, clamav: ran }, "free");
    assert.equal(v.recommendations[0], STATUS_RECOMMENDATION.suspicious);
    assert.equal(v.recommendations.length, 2);
  });
  it("rejects a local-engine finding whose id is not declared", () => {
    const bogus: Finding = { ...malformed, id: "validation.made-up" };
    assert.throws(() => scoreFindings([bogus], { validation: ran }, "free"), /not a declared heuristic/);
  });
  it("is deterministic", () => {
    const a = scoreFindings([malformed, yaraSuspicious], { validation: ran, clamav: ran, yara: ran }, "gold");
    const b = scoreFindings([malformed, yaraSuspicious], { validation: ran, clamav: ran, yara: ran }, "gold");
    assert.deepEqual(a, b);
  });
});
