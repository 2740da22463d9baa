import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfig } from "../../app/config.ts";
import { ConfigError } from "../../app/errors/config-error.ts";
import { unsafeNameReason } from "../../app/validation/archive-guard.ts";
import { detectKind } from "../../app/validation/detect-kind.ts";
import { executableAt, preambleExecutable } from "../../app/validation/executable-header.ts";
import { claimFromName, kindsFromDeclaredType } from "../../app/validation/file-kinds.ts";
import { fhirJson, hl7, pdfWithOpenActionJs, png } from "../fixtures/documents.ts";
import { buildDicom } from "../fixtures/dicom.ts";

describe("content type detection", () => {
  it("detects each allowed kind from its content", async () => {
    assert.equal((await detectKind(buildDicom())).kind, "dicom");
    assert.equal((await detectKind(pdfWithOpenActionJs())).kind, "pdf");
    assert.equal((await detectKind(png())).kind, "png");
    assert.equal((await detectKind(hl7())).kind, "hl7v2");
    assert.equal((await detectKind(fhirJson())).kind, "fhir-json");
    assert.equal((await detectKind(Buffer.from('<Patient xmlns="http://hl7.org/fhir"><id value="1"/></Patient>'))).kind, "fhir-xml");
    assert.equal((await detectKind(Buffer.from("a,b,c\n1,2,3\n4,5,6\n"))).kind, "csv");
    assert.equal((await detectKind(Buffer.from("Discharge letter\nAll well.\n"))).kind, "text");
  });
  it("gives no allowed kind for executables, HTML and foreign JSON", async () => {
    assert.equal((await detectKind(Buffer.from("<html><script>x</script></html>"))).kind, null);
    assert.equal((await detectKind(Buffer.from('{"hello": 1}'))).kind, null);
    assert.equal((await detectKind(Buffer.from([0, 1, 2, 3, 0, 0, 9]))).kind, null);
  });
  it("a DICOM with an executable preamble is still judged as DICOM", async () => {
    const polyglot = buildDicom({ preamble: Buffer.from("MZ\x90\x00") });
    assert.equal((await detectKind(polyglot)).kind, "dicom");
    assert.equal(preambleExecutable(polyglot), "pe");
  });
});

describe("executable headers", () => {
  it("a bare MZ is not a PE; MZ with e_lfanew at PE\\0\\0 is", () => {
    const b = Buffer.alloc(256);
    b.write("MZ", 0, "latin1");
    assert.equal(executableAt(b), null);
    b.writeUInt32LE(0x80, 0x3c);
    b.write("PE\0\0", 0x80, "latin1");
    assert.equal(executableAt(b), "pe");
  });
  it("TIFF headers and vendor text in a preamble are normal", () => {
    assert.equal(preambleExecutable(Buffer.from("II*\0\x08\0\0\0")), null);
    assert.equal(preambleExecutable(Buffer.from("ACME Medical Systems workstation export")), null);
  });
});

describe("name and declared-type claims", () => {
  it("UID-style names and no extension claim nothing", () => {
    assert.deepEqual(claimFromName("1.2.840.113619.2.55.3"), { kind: "none" });
    assert.deepEqual(claimFromName("IM0001"), { kind: "none" });
  });
  it("known and foreign extensions, double extensions use the last", () => {
    assert.equal(claimFromName("scan.DCM").kind, "known");
    assert.deepEqual(claimFromName("report.pdf.exe"), { kind: "foreign", extension: ".exe" });
  });
  it("generic declared types claim nothing", () => {
    assert.equal(kindsFromDeclaredType("application/octet-stream"), "none");
    assert.deepEqual(kindsFromDeclaredType("application/dicom; charset=binary"), ["dicom"]);
    assert.equal(kindsFromDeclaredType("application/x-msdownload"), "foreign");
  });
});

describe("archive entry names", () => {
  it("flags traversal, absolute paths, backslashes and NUL", () => {
    assert.equal(unsafeNameReason("study/IM0001.dcm"), null);
    assert.match(unsafeNameReason("../etc/passwd")!, /traversal/);
    assert.match(unsafeNameReason("a/../../b")!, /traversal/);
    assert.match(unsafeNameReason("/etc/passwd")!, /absolute/);
    assert.match(unsafeNameReason("C:/Windows/x")!, /absolute/);
    assert.match(unsafeNameReason("..\\..\\x")!, /backslash/);
    assert.match(unsafeNameReason("a\0b")!, /NUL/);
  });
});

describe("configuration", () => {
  it("defaults load", () => {
    const c = loadConfig({});
    assert.equal(c.clamav.port, 3310);
    assert.equal(c.clamav.host, "127.0.0.1");
  });
  it("every bad variable is named in one error, none is replaced by a default", () => {
    assert.throws(
      () => loadConfig({ CLAMAV_PORT: "33l0", ARCHIVE_MAX_RATIO: "-1", ALLOWED_FILE_TYPES: "dicom,exe" }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.problems.length, 3);
        assert.match(err.message, /CLAMAV_PORT/);
        assert.match(err.message, /ARCHIVE_MAX_RATIO/);
        assert.match(err.message, /ALLOWED_FILE_TYPES/);
        return true;
      },
    );
  });
});
