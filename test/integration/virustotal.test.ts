import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { ScanResult } from "../../app/verdict/scan-result.ts";
import { BASIC_ELEMENTS, buildDicom, text } from "../fixtures/dicom.ts";
import { hl7, plainPdf } from "../fixtures/documents.ts";
import { call, startApiApp, upload, type ApiApp } from "../harness/api-app.ts";
import { FakeVirusTotal } from "../harness/fake-virustotal.ts";
import { freePort } from "../harness/ports.ts";
import { eventually, startServiceStack, type ServiceStack } from "../harness/service-stack.ts";

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const API_KEY = "vt-test-key-0123456789";
/** A clean DICOM for a given patient name: another name, another hash. */
const patient = (name: string) =>
  buildDicom({ elements: BASIC_ELEMENTS.map((e) => (e.group === 0x0010 && e.element === 0x0010 ? { ...e, value: text(name.length % 2 ? `${name} ` : name) } : e)) });
/** A DICOM no local engine flags, whose hash VirusTotal knows as malware. */
const knownBad = patient("KNOWN^BAD");

describe("VirusTotal v3 against the fake server (real app, Redis, clamd)", () => {
  let stack: ServiceStack;
  let vt: FakeVirusTotal;
  let app: ApiApp;
  before(async () => {
    stack = await startServiceStack();
    vt = await FakeVirusTotal.start({ apiKey: API_KEY, bad: { [sha256(knownBad)]: { malicious: 41, detections: { Kaspersky: "HEUR:Trojan.Win32.Generic", ESET: "Win32/Agent" } } } });
    app = await startApiApp(stack, { VIRUSTOTAL_API_KEY: API_KEY, VIRUSTOTAL_API_URL: vt.url, VIRUSTOTAL_REQUESTS_PER_MINUTE: "1000" });
  });
  after(async () => {
    await app.close();
    await vt.close();
    await stack.close();
  });

  const scan = async (key: string, data: Buffer, name: string) => {
    const r = await upload(app, key, data, { name, query: "?wait=30" });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.result as ScanResult;
  };

  it("a known-bad hash makes a gold scan infected; an unknown hash leaves it as the local engines found it; free and premium never call", async () => {
    const gold = await app.key("g", "gold");
    const bad = await scan(gold, knownBad, "a.dcm");
    assert.equal(bad.status, "infected");
    const finding = bad.findings.find((f) => f.engine === "virustotal")!;
    assert.equal(finding.id, "virustotal.malicious");
    assert.match(finding.description, /41 engines/);
    const unknown = await scan(gold, buildDicom(), "b.dcm");
    assert.equal(unknown.status, "clean");
    assert.equal(unknown.engines.virustotal?.ran, true);
    assert.ok(unknown.findings.some((f) => f.id === "virustotal.unknown"));

    const before = vt.requests.length;
    for (const tier of ["free", "premium"] as const) {
      const r = await scan(await app.key(`u-${tier}`, tier), patient(`X^${tier}`), "c.dcm");
      assert.equal(r.engines.virustotal, undefined);
    }
    assert.equal(vt.requests.length, before, "free and premium scans never reach VirusTotal");
  });

  it("for every DICOM, HL7 and PDF scanned, VirusTotal receives the SHA-256 and nothing else", async () => {
    const key = await app.key("privacy", "enterprise");
    const files = [
      { name: "SMITH^JOHN-ct.dcm", data: patient("SMITH^JOHN") },
      { name: "SMITH-JOHN-labs.hl7", data: hl7() },
      { name: "SMITH-JOHN-report.pdf", data: plainPdf() },
    ];
    const start = vt.requests.length;
    for (const f of files) await scan(key, f.data, f.name);
    const seen = vt.requests.slice(start);
    assert.equal(seen.length, files.length);
    for (const [i, req] of seen.entries()) {
      assert.equal(req.method, "GET");
      assert.equal(req.path, `/api/v3/files/${sha256(files[i]!.data)}`);
      assert.equal(req.body.length, 0, "no body");
      // Path and body are fixed above; the headers are the only other carrier: fetch's own plus the key.
      const allowed = ["accept", "accept-encoding", "accept-language", "connection", "host", "sec-fetch-mode", "user-agent", "x-apikey"];
      assert.deepEqual(Object.keys(req.headers).filter((h) => !allowed.includes(h)), []);
      assert.ok(!JSON.stringify(req.headers).includes("SMITH"), "no file or patient name");
    }
  });

  it("over the quota: the result says VirusTotal was unavailable, no worker waits, the lookup happens later", async () => {
    // One lookup a window, and a window that does not pass by itself: the second lookup is over the quota however slow the machine is.
    const tight = await FakeVirusTotal.start({ apiKey: API_KEY, perWindow: 1, windowMs: 3_600_000 });
    const quota = await startApiApp(stack, { ...(await stack.scenario("quota")), VIRUSTOTAL_API_KEY: API_KEY, VIRUSTOTAL_API_URL: tight.url, VIRUSTOTAL_FOLLOWUP_DELAY_MS: "2000", VIRUSTOTAL_TENANT_SHARE_PERCENT: "100" });
    try {
      const key = await quota.key("q", "gold");
      const first = await upload(quota, key, buildDicom(), { query: "?wait=30" });
      assert.equal((first.body.result as ScanResult).engines.virustotal?.ran, true);
      assert.equal((first.body.result as ScanResult).incomplete, undefined);
      const other = patient("OTHER");
      const second = await upload(quota, key, other, { query: "?wait=30" });
      // The follow-up comes 2 s after this verdict; by then the quota is free again.
      tight.openWindow();
      const result = second.body.result as ScanResult;
      assert.equal(result.status, "clean", "the verdict stands on the local engines");
      assert.equal(result.engines.virustotal?.error?.code, "ENGINE_UNAVAILABLE");
      assert.match(result.engines.virustotal!.error!.message, /QuotaExceededError/);
      assert.deepEqual(result.incomplete?.map((m) => [m.engine, m.code]), [["virustotal", "ENGINE_UNAVAILABLE"]], "the result says which engine is missing and why");
      assert.equal((await call(quota, key, "GET", `/api/medical-files/${second.body.fileId}/content`)).status, 200, "served: VIRUSTOTAL_REQUIRED is off by default");
      assert.ok(result.scanTimeMs < 5000, `no waiting: ${result.scanTimeMs} ms`);
      assert.equal(tight.requests.at(-1)!.path, `/api/v3/files/${sha256(other)}`);

      const followUp = await eventually(
        async () => {
          const scans = (await call(quota, key, "GET", `/api/medical-files/${second.body.fileId}/scans`)).body.scans as { scan_type: string; results: ScanResult }[];
          return scans.find((s) => s.scan_type === "followup" && s.results.engines.virustotal?.ran);
        },
        20_000,
        "the follow-up lookup",
      );
      assert.ok(followUp.results.findings.some((f) => f.id === "virustotal.unknown"));
      assert.equal(tight.requests.filter((r) => r.path.endsWith(sha256(other))).length, 2);
    } finally {
      await quota.close();
      await tight.close();
    }
  });

  it("the shared limiter refuses over VIRUSTOTAL_REQUESTS_PER_MINUTE without calling; a wrong key shows in /health/ready", async () => {
    const limited = await startApiApp(stack, { ...(await stack.scenario("limited")), VIRUSTOTAL_API_KEY: "wrong-key", VIRUSTOTAL_API_URL: vt.url, VIRUSTOTAL_REQUESTS_PER_MINUTE: "1", VIRUSTOTAL_MAX_FOLLOWUPS: "0" });
    try {
      const key = await limited.key("l", "gold");
      // The limiter counts per clock minute: both lookups must fall into one, whatever the time.
      const intoMinute = Date.now() % 60_000;
      if (intoMinute > 40_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 100));
      const start = vt.requests.length;
      const a = (await upload(limited, key, patient("L1"), { query: "?wait=30" })).body.result as ScanResult;
      assert.match(a.engines.virustotal!.error!.message, /WrongCredentialsError/);
      const ready = await call(limited, null, "GET", "/health/ready");
      assert.equal(ready.status, 503);
      assert.deepEqual((ready.body.checks as Record<string, object>).virustotal, { ok: false, state: "wrong-credentials" });
      const b = (await upload(limited, key, patient("L2"), { query: "?wait=30" })).body.result as ScanResult;
      assert.match(b.engines.virustotal!.error!.message, /quota/);
      assert.equal(vt.requests.length, start + 1, "the second lookup never left the machine");
    } finally {
      await limited.close();
    }
  });

  it("VIRUSTOTAL_REQUIRED=true: a gold file VirusTotal has not answered for is 409 VIRUSTOTAL_PENDING; premium files are served", async () => {
    const required = await startApiApp(stack, { ...(await stack.scenario("required")), VIRUSTOTAL_API_KEY: API_KEY, VIRUSTOTAL_API_URL: `http://127.0.0.1:${await freePort()}/api/v3`, VIRUSTOTAL_REQUIRED: "true", VIRUSTOTAL_MAX_FOLLOWUPS: "0" });
    try {
      const gold = await required.key("rg", "gold");
      const premium = await required.key("rp", "premium");
      const g = await upload(required, gold, patient("REQ^GOLD"), { query: "?wait=30" });
      assert.equal((g.body.result as ScanResult).status, "clean");
      const held = await call(required, gold, "GET", `/api/medical-files/${g.body.fileId}/content`);
      assert.deepEqual([held.status, (held.body.error as { code: string }).code], [409, "VIRUSTOTAL_PENDING"]);
      const p = await upload(required, premium, patient("REQ^PREMIUM"), { query: "?wait=30" });
      assert.equal((await call(required, premium, "GET", `/api/medical-files/${p.body.fileId}/content`)).status, 200);
    } finally {
      await required.close();
    }
  });

  it("each tenant gets a share of the quota (VIRUSTOTAL_TENANT_SHARE_PERCENT): one gold tenant cannot use up everyone's lookups", async () => {
    const shared = await startApiApp(stack, { ...(await stack.scenario("share")), VIRUSTOTAL_API_KEY: API_KEY, VIRUSTOTAL_API_URL: vt.url, VIRUSTOTAL_REQUESTS_PER_DAY: "4", VIRUSTOTAL_TENANT_SHARE_PERCENT: "25", VIRUSTOTAL_MAX_FOLLOWUPS: "0" });
    try {
      const [greedy, other] = [await shared.key("greedy", "gold"), await shared.key("other", "gold")];
      const first = (await upload(shared, greedy, patient("SHARE^ONE"), { query: "?wait=30" })).body.result as ScanResult;
      assert.equal(first.engines.virustotal?.ran, true);
      const second = (await upload(shared, greedy, patient("SHARE^TWO"), { query: "?wait=30" })).body.result as ScanResult;
      assert.match(second.engines.virustotal?.error?.message ?? "", /this tenant's share/);
      const theirs = (await upload(shared, other, patient("SHARE^THREE"), { query: "?wait=30" })).body.result as ScanResult;
      assert.equal(theirs.engines.virustotal?.ran, true, "another tenant still gets its lookup");
    } finally {
      await shared.close();
    }
  });
});
