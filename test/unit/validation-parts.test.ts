import assert from "node:assert/strict";
import { mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../../app/config.ts";
import { ConfigError } from "../../app/errors/config-error.ts";
import { forClients } from "../../app/errors/redact.ts";
import { unsafeNameReason } from "../../app/engines/validation/archive-guard.ts";
import { detectKind } from "../../app/engines/validation/detect-kind.ts";
import { executableAt, preambleExecutable } from "../../app/engines/validation/executable-header.ts";
import { claimFromName, kindsFromDeclaredType } from "../../app/engines/validation/file-kinds.ts";
import { programExtent } from "../../app/engines/virustotal/program-extent.ts";
import { inspectJson } from "../../app/engines/validation/json-inspector.ts";
import { inflatePdfStreams } from "../../app/engines/validation/pdf-streams.ts";
import { inspectXml } from "../../app/engines/validation/xml-inspector.ts";
import { fhirJson, hl7, pdfWithObjStmJs, pdfWithOpenActionJs, png } from "../fixtures/documents.ts";
import { buildDicom } from "../fixtures/dicom.ts";
import { peProgram } from "../fixtures/programs.ts";

describe("content type detection", () => {
  it("detects each allowed kind from its content", async () => {
    assert.equal((await detectKind(buildDicom())).kind, "dicom");
    assert.equal((await detectKind(pdfWithOpenActionJs())).kind, "pdf");
    assert.equal((await detectKind(png())).kind, "png");
    assert.equal((await detectKind(hl7())).kind, "hl7v2");
    assert.equal((await detectKind(fhirJson())).kind, "fhir-json");
    assert.equal((await detectKind(Buffer.from('<Patient xmlns="http://hl7.org/fhir"><id value="1"/></Patient>'))).kind, "fhir-xml");
    assert.equal((await detectKind(Buffer.from('<?xml version="1.0" encoding="UTF-8"?>\n<Patient xmlns="http://hl7.org/fhir"><id value="1"/></Patient>'))).kind, "fhir-xml");
    assert.equal((await detectKind(Buffer.from('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>'))).kind, null);
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
  it("any Mach-O magic in a preamble is an executable, even with no load commands; not so elsewhere", () => {
    for (const magic of [0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe, 0xcafebabe]) {
      const head = Buffer.alloc(128);
      head.writeUInt32BE(magic, 0);
      assert.equal(preambleExecutable(head), "mach-o", magic.toString(16));
      assert.equal(executableAt(head), null, magic.toString(16));
    }
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
  it("names of inherited properties are foreign types and extensions, not a crash", () => {
    for (const name of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
      assert.equal(kindsFromDeclaredType(name), "foreign");
      assert.deepEqual(claimFromName(`x.${name}`), { kind: "foreign", extension: `.${name.toLowerCase()}` });
    }
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

describe("FHIR text structure", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "msd-text-"));
  });
  after(() => rm(dir, { recursive: true, force: true }));
  let seq = 0;
  const json = async (text: string) => {
    const file = path.join(dir, `${++seq}.json`);
    await writeFile(file, text);
    return (await inspectJson(file, 100, AbortSignal.timeout(10_000)))?.id ?? null;
  };

  it("prototype keys are found however they are spelled, and only as keys", async () => {
    assert.equal(await json('{"resourceType":"Patient","__proto__":{"admin":true}}'), "validation.json-prototype-key");
    assert.equal(await json('{"a":[{"constructor" :{"prototype":{}}}]}'), "validation.json-prototype-key");
    assert.equal(await json('{"\\u005f\\u005fproto__":1}'), "validation.json-prototype-key");
    assert.equal(await json('{"resourceType":"Basic","text":"__proto__","list":["constructor", "prototype"]}'), null);
    assert.equal(await json('{"key\\"__proto__":1,"__proto__x":2}'), null);
  });
  it("nesting past the limit, unbalanced brackets and unterminated strings", async () => {
    assert.equal(await json(`{"a":${"[".repeat(100)}${"]".repeat(100)}}`), "validation.json-too-deep");
    assert.equal(await json(`{"a":${"[".repeat(98)}${"]".repeat(98)}}`), null);
    assert.equal(await json('{"a":[1,2}'), "validation.json-malformed");
    assert.equal(await json('{"a":"open}'), "validation.json-malformed");
    assert.equal(await json('{"a":{"b":1}'), "validation.json-malformed");
  });
  it("a DTD in XML is found, also across the reader's chunk boundary", async () => {
    const xml = async (text: string) => {
      const file = path.join(dir, `${++seq}.xml`);
      await writeFile(file, text);
      return (await inspectXml(file, AbortSignal.timeout(10_000)))?.id ?? null;
    };
    assert.equal(await xml('<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><Patient xmlns="http://hl7.org/fhir"/>'), "validation.xml-dtd");
    assert.equal(await xml(`${" ".repeat(1024 * 1024 - 4)}<!DOCTYPE x>`), "validation.xml-dtd");
    assert.equal(await xml('<Patient xmlns="http://hl7.org/fhir"><text><div xmlns="http://www.w3.org/1999/xhtml">&lt;!DOCTYPE&gt;</div></text></Patient>'), null);
  });
});

describe("program extent (what VirusTotal uploads may hold)", () => {
  const extentOf = async (file: string, kind: "pe" | "elf") => {
    const fh = await open(file, "r");
    try {
      return await programExtent(fh, kind, (await fh.stat()).size);
    } finally {
      await fh.close();
    }
  };
  it("a real ELF program's headers account for every byte; bytes appended are past its extent", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "msd-extent-"));
    try {
      const ls = await readFile("/bin/ls");
      assert.equal(await extentOf("/bin/ls", "elf"), ls.length);
      const sfx = path.join(dir, "sfx");
      await writeFile(sfx, Buffer.concat([ls, Buffer.from("payload")]));
      assert.equal(await extentOf(sfx, "elf"), ls.length);
      const pe = path.join(dir, "tool.exe");
      await writeFile(pe, peProgram("EXTENT", 8192));
      assert.equal(await extentOf(pe, "pe"), 8192);
      await writeFile(pe, peProgram("EXTENT", 100));
      assert.equal(await extentOf(pe, "pe"), null, "headers cut short do not parse");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("what errors show", () => {
  it("a configuration error names a secret setting but never shows it, and cuts credentials out of URLs", () => {
    const message = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return "";
      } catch (err) {
        return (err as Error).message;
      }
    };
    const key = "not-hex-but-a-secret-all-the-same-0123456789abcdef";
    assert.match(message({ QUARANTINE_ENCRYPTION_KEY: key }), /QUARANTINE_ENCRYPTION_KEY=\(\d+ characters, not shown\)/);
    assert.doesNotMatch(message({ QUARANTINE_ENCRYPTION_KEY: key }), /secret-all-the-same/);
    const redis = message({ REDIS_URL: "http://:hunter2@redis.internal:6379" });
    assert.match(redis, /REDIS_URL="http:\/\/\*\*\*@redis.internal:6379"/);
    assert.doesNotMatch(redis, /hunter2/);
  });
  it("messages for clients lose this installation's paths and addresses", () => {
    assert.equal(forClients("connect ECONNREFUSED 10.0.3.7:3310"), "connect ECONNREFUSED <address>");
    assert.equal(forClients("connect ECONNREFUSED ::1:3310"), "connect ECONNREFUSED <address>");
    assert.equal(forClients("getaddrinfo ENOTFOUND clamd.ward.internal"), "getaddrinfo ENOTFOUND <address>");
    assert.equal(forClients("ENOENT: no such file or directory, open '/var/lib/medical-scan-daemon/files/a1'"), "ENOENT: no such file or directory, open '<path>'");
    assert.equal(forClients("validation did not finish within 2000 ms at 12:30:45"), "validation did not finish within 2000 ms at 12:30:45");
  });
});

describe("PDF streams", () => {
  it("compressed streams are inflated for the engines, object streams included; past the cap it is an issue and the output stops there", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "msd-pdf-"));
    try {
      const pdf = path.join(dir, "objstm.pdf");
      await writeFile(pdf, pdfWithObjStmJs());
      const out = path.join(dir, "streams.bin");
      const small = await inflatePdfStreams(pdf, pdfWithObjStmJs().length, out, 1024 * 1024, AbortSignal.timeout(5000));
      assert.deepEqual(small, { inflated: true, issue: null });
      assert.match(await readFile(out, "latin1"), /^%PDF-.*\/OpenAction 2 0 R.*\/S \/JavaScript/s);

      const bomb = Buffer.concat([Buffer.from("%PDF-1.4\n1 0 obj << /Filter /FlateDecode >>\nstream\n"), zlib.deflateSync(Buffer.alloc(4 * 1024 * 1024)), Buffer.from("\nendstream\nendobj\n%%EOF\n")]);
      await writeFile(pdf, bomb);
      const capped = await inflatePdfStreams(pdf, bomb.length, out, 100_000, AbortSignal.timeout(5000));
      assert.equal(capped.issue?.id, "pdf.inflate-limit");
      assert.ok((await readFile(out)).length <= 100_000 + 64);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
