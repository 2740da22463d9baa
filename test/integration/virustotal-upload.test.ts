import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { after, afterEach, before, describe, it } from "node:test";
import type { ScanResult } from "../../app/verdict/scan-result.ts";
import { buildDicom } from "../fixtures/dicom.ts";
import { hl7, plainPdf, png } from "../fixtures/documents.ts";
import { peProgram } from "../fixtures/programs.ts";
import { zipOf } from "../fixtures/zips.ts";
import { call, startApiApp, upload, type ApiApp } from "../harness/api-app.ts";
import { FakeVirusTotal } from "../harness/fake-virustotal.ts";
import { eventually, startServiceStack, type ServiceStack } from "../harness/service-stack.ts";

/** A program with `text` as UTF-16 inside its section. */
function withUtf16(program: Buffer, text: string): Buffer {
  Buffer.from(text, "utf16le").copy(program, 0x400);
  return program;
}

/** A 64-bit x86 Mach-O header with one load command, then filler. */
function machO(): Buffer {
  const b = Buffer.alloc(4096, 0x90);
  [0xfeedfacf, 0x01000007, 3, 2, 1, 72, 0].forEach((v, i) => b.writeUInt32LE(v, i * 4));
  return b;
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const API_KEY = "vt-test-key-0123456789";
const FOLLOWUP_MS = 300;
/** A program VirusTotal does not know by hash until it has analysed the upload. */
const dropper = peProgram("DROPPER-1");

describe("VirusTotal uploads, turned on (real app, Redis, clamd; fake v3 server)", () => {
  let stack: ServiceStack;
  let vt: FakeVirusTotal;
  let app: ApiApp;
  let key: string;
  before(async () => {
    stack = await startServiceStack();
    vt = await FakeVirusTotal.start({ apiKey: API_KEY, verdicts: { [sha256(dropper)]: { malicious: 12, detections: { ESET: "Win32/TrojanDropper.Agent" } } }, pollsUntilDone: 1 });
    app = await startApiApp(stack, {
      VIRUSTOTAL_API_KEY: API_KEY,
      VIRUSTOTAL_API_URL: vt.url,
      VIRUSTOTAL_REQUESTS_PER_MINUTE: "1000",
      VIRUSTOTAL_UPLOAD_ENABLED: "true",
      VIRUSTOTAL_FOLLOWUP_DELAY_MS: String(FOLLOWUP_MS),
    });
    key = await app.key("uploader", "enterprise");
  });
  // Each case ends only when its follow-up scans have all run, so none reads VirusTotal during the next case.
  afterEach(async () => {
    await eventually(
      async () => {
        const c = await app.service.daemon.queueCounts();
        return c.waiting + c.active + c.delayed === 0;
      },
      30_000,
      "the case's scans and follow-ups to finish",
    );
  });
  after(async () => {
    await app.close();
    await vt.close();
    await stack.close();
  });

  const scan = async (data: Buffer, name: string) => {
    const r = await upload(app, key, data, { name, query: "?wait=60" });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return { fileId: r.body.fileId as string, result: r.body.result as ScanResult };
  };
  /** What VirusTotal was asked about one file, whatever else runs meanwhile. */
  const about = (data: Buffer) => vt.requestsFor(sha256(data)).map((r) => `${r.method} ${r.path.replace(/\/(uploads|analyses)\/[^/]+$/, "/$1/ID")}`);

  it("an unknown program is uploaded as <sha256>.bin, its analysis read by follow-up scans with backoff, and the verdict lands", async () => {
    const { fileId, result } = await scan(dropper, "SMITH-viewer.exe");
    assert.notEqual(result.status, "clean");
    assert.match(result.engines.virustotal?.error?.message ?? "", /sent to VirusTotal/);
    assert.deepEqual(about(dropper).slice(0, 2), [`GET /api/v3/files/${sha256(dropper)}`, "POST /api/v3/files"]);
    const sent = vt.requestsFor(sha256(dropper))[1]!;
    assert.ok(sent.body.includes(dropper), "the program's bytes, whole");
    assert.ok(sent.body.includes(`filename="${sha256(dropper)}.bin"`));
    assert.ok(!sent.body.includes("SMITH"), "the client's name stays here");
    assert.ok(!JSON.stringify(sent.headers).includes("SMITH"));

    const scans = await eventually(
      async () => {
        const all = (await call(app, key, "GET", `/api/medical-files/${fileId}/scans`)).body.scans as { scan_type: string; created_at: string; results: ScanResult }[];
        return all.some((s) => s.results.findings.some((f) => f.id === "virustotal.malicious")) ? all : undefined;
      },
      30_000,
      "the analysis verdict",
    );
    const followUps = scans.filter((s) => s.scan_type === "followup");
    assert.equal(followUps.length, 2, "one read while queued, one once complete");
    const last = followUps.find((s) => s.results.engines.virustotal?.ran && !s.results.engines.virustotal.error)!;
    assert.equal(last.results.status, "infected");
    assert.match(last.results.findings.find((f) => f.engine === "virustotal")!.description, /12 engines.*TrojanDropper/);
    assert.deepEqual(about(dropper).slice(2), ["GET /api/v3/analyses/ID", "GET /api/v3/analyses/ID"], "polled, never uploaded twice");
    const [first, second] = followUps.map((s) => Date.parse(s.created_at)).sort((a, b) => a - b);
    assert.ok(second! - first! >= 2 * FOLLOWUP_MS - 50, `backoff: ${second! - first!} ms between reads`);
  });

  it("above 32 MB the program goes to a one-time upload_url", async () => {
    const big = peProgram("BIG-1", 33 * 1024 * 1024);
    await scan(big, "big.exe");
    assert.deepEqual(about(big).slice(0, 3), [`GET /api/v3/files/${sha256(big)}`, "GET /api/v3/files/upload_url", "POST /api/v3/uploads/ID"]);
    assert.ok(vt.requestsFor(sha256(big))[2]!.body.length > big.length);
    assert.ok(about(big).slice(3).every((r) => r === "GET /api/v3/analyses/ID"), "then only reads of its analysis");
  });

  it("DICOM (a PE preamble too), HL7, PDF, images, archives, scripts and programs carrying medical formats: only the SHA-256 leaves", async () => {
    const files = [
      { name: "SMITH^JOHN-ct.dcm", data: buildDicom() },
      { name: "poly.dcm", data: buildDicom({ preamble: peProgram("PRE", 128) }) },
      { name: "SMITH-labs.hl7", data: hl7() },
      { name: "SMITH-report.pdf", data: plainPdf() },
      { name: "SMITH-photo.png", data: png() },
      { name: "study.zip", data: await zipOf([{ name: "tool.exe", data: peProgram("ZIPPED") }]) },
      { name: "run.sh", data: Buffer.from("#!/bin/sh\necho SMITH JOHN 1970-01-01\n") },
      { name: "sfx.exe", data: Buffer.concat([peProgram("SFX"), await zipOf([{ name: "ct.dcm", data: buildDicom() }])]) },
      { name: "viewer.exe", data: Buffer.concat([peProgram("VIEWER"), buildDicom()]) },
      // No marker at all, so only the allow-list keeps them: a payload past the last section, a
      // UTF-16 FHIR resource inside one, a Mach-O program.
      { name: "setup.exe", data: Buffer.concat([peProgram("SETUP"), randomBytes(8192)]) },
      { name: "export.exe", data: withUtf16(peProgram("EXPORT"), '{"resourceType":"Patient"}') },
      { name: "viewer-mac", data: machO() },
    ];
    const start = vt.requests.length;
    for (const f of files) await scan(f.data, f.name);
    for (const f of files) assert.deepEqual(about(f.data), [`GET /api/v3/files/${sha256(f.data)}`], f.name);
    assert.deepEqual(vt.requests.slice(start).filter((r) => !files.some((f) => r.sha256 === sha256(f.data))), [], "nothing about any other file meanwhile");
    assert.ok(vt.requests.slice(start).every((r) => r.body.length === 0));
  });
});
