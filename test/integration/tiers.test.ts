import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../../app/config.ts";
import type { ScanResult } from "../../app/verdict/scan-result.ts";
import { MiB, TIER_POLICIES, TIERS, type Tier } from "../../app/verdict/tiers.ts";
import { hl7WithScript, png } from "../fixtures/documents.ts";
import { call, startApiApp, upload, type ApiApp } from "../harness/api-app.ts";
import { FakeVirusTotal } from "../harness/fake-virustotal.ts";
import { eventually, recordEvents, startServiceStack, type ServiceStack } from "../harness/service-stack.ts";

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const VT_KEY = "tier-test-key";
/** Small limits, so each tier's edge costs a few megabytes and a few uploads. */
const SMALL: Record<Tier, { mb: number; perDay: number }> = { free: { mb: 1, perDay: 2 }, premium: { mb: 2, perDay: 3 }, gold: { mb: 3, perDay: 4 }, enterprise: { mb: 4, perDay: 5 } };
const smallLimits = Object.fromEntries(
  TIERS.flatMap((t) => [
    [`TIER_${t.toUpperCase()}_MAX_FILE_MB`, String(SMALL[t].mb)],
    [`TIER_${t.toUpperCase()}_FILES_PER_DAY`, String(SMALL[t].perDay)],
  ]),
);
const code = (r: { body: Record<string, unknown> }) => (r.body.error as { code?: string } | undefined)?.code;

describe("every tier's numbers, engines and priority (real app, Redis, clamd, YARA-X)", { timeout: 300_000 }, () => {
  let stack: ServiceStack;
  let vt: FakeVirusTotal;
  let app: ApiApp;

  before(async () => {
    stack = await startServiceStack();
    vt = await FakeVirusTotal.start({ apiKey: VT_KEY });
    const custom = path.join(stack.dir, "custom-rules");
    await mkdir(path.join(custom, "ent-engines"), { recursive: true });
    await writeFile(path.join(custom, "ent-engines", "site.yar"), 'rule Site_Policy_Marker { meta: severity = "medium" verdict = "suspicious" description = "site policy" strings: $m = "SITE-POLICY-MARKER" condition: $m }\n');
    app = await startApiApp(stack, { ...smallLimits, YARA_CUSTOM_RULES_DIR: custom, VIRUSTOTAL_API_KEY: VT_KEY, VIRUSTOTAL_API_URL: vt.url, VIRUSTOTAL_REQUESTS_PER_MINUTE: "1000", VIRUSTOTAL_MAX_FOLLOWUPS: "0" });
  });
  after(async () => {
    await app?.close();
    await vt?.close();
    await stack?.close();
  });

  it("the defaults are the contract's: 10/50/100/500 MiB, 50/200/1000/10000 files a day, priorities 4/3/2/1", () => {
    const { tiers } = loadConfig({});
    assert.deepEqual(
      TIERS.map((t) => [t, tiers[t].maxFileBytes, tiers[t].filesPerDay, TIER_POLICIES[t].priority]),
      [
        ["free", 10 * MiB, 50, 4],
        ["premium", 50 * MiB, 200, 3],
        ["gold", 100 * MiB, 1000, 2],
        ["enterprise", 500 * MiB, 10_000, 1],
      ],
    );
    assert.throws(() => loadConfig({ TIER_GOLD_MAX_FILE_MB: "0" }), /TIER_GOLD_MAX_FILE_MB/);
    assert.throws(() => loadConfig({ TIER_FREE_FILES_PER_DAY: "many" }), /TIER_FREE_FILES_PER_DAY/);
  });

  for (const tier of TIERS) {
    it(`${tier}: one byte over the configured size is 413, at the size is accepted`, async () => {
      const key = await app.key(`size-${tier}`, tier);
      const limit = SMALL[tier].mb * MiB;
      const over = await upload(app, key, Buffer.alloc(limit + 1, 0x41), { name: "big.txt" });
      assert.deepEqual([over.status, code(over)], [413, "FILE_TOO_LARGE"]);
      assert.match(String((over.body.error as { message: string }).message), new RegExp(`${limit} bytes`));
      const at = await upload(app, key, Buffer.alloc(limit, 0x42), { name: "big.txt" });
      assert.equal(at.status, 202, JSON.stringify(at.body));
    });

    it(`${tier}: the configured daily count is accepted, the next upload is 429 with Retry-After`, async () => {
      const key = await app.key(`daily-${tier}`, tier);
      for (let i = 0; i < SMALL[tier].perDay; i++) {
        const r = await upload(app, key, Buffer.from(`daily ${tier} ${i}\n`), { name: "note.txt" });
        assert.equal(r.status, 202, `upload ${i + 1}: ${JSON.stringify(r.body)}`);
      }
      const refused = await upload(app, key, Buffer.from(`daily ${tier} over\n`), { name: "note.txt" });
      assert.deepEqual([refused.status, code(refused)], [429, "DAILY_LIMIT"]);
      assert.ok(Number(refused.headers.get("retry-after")) > 0);
    });
  }

  it("engines and YARA rule sets per tier: basic rules from premium, advanced only from gold, VirusTotal and analysis from gold, own rules for enterprise", async () => {
    const ran = (r: ScanResult) => Object.entries(r.engines).filter(([, e]) => e?.ran).map(([name]) => name).sort();
    const yaraIds = (r: ScanResult) => r.findings.filter((f) => f.engine === "yara").map((f) => f.id);
    for (const tier of TIERS) {
      const key = await app.key(tier === "enterprise" ? "ent-engines" : `engines-${tier}`, tier);
      // Distinct bytes per tier, so VirusTotal's requests tell the tiers apart.
      const basic = Buffer.concat([hl7WithScript(), Buffer.from(`NTE|1||${tier} SITE-POLICY-MARKER\r`)]);
      const advanced = Buffer.concat([png(), Buffer.from(`trailing data after IEND for ${tier}`.padEnd(64, "."))]);
      const scan = async (data: Buffer, name: string) => {
        const r = await upload(app, key, data, { name, query: "?wait=60" });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        return { fileId: String(r.body.fileId), result: r.body.result as ScanResult };
      };
      const [hl7Scan, pngScan] = [await scan(basic, "result.hl7"), await scan(advanced, "image.png")];
      const [hl7Result, pngResult] = [hl7Scan.result, pngScan.result];
      const expected = [...TIER_POLICIES[tier].engines].sort();
      assert.deepEqual(ran(hl7Result), expected, `${tier} engines`);
      const scans = (await call(app, key, "GET", `/api/medical-files/${hl7Scan.fileId}/scans`)).body.scans as { scan_engines: string[] }[];
      assert.deepEqual([...scans[0]!.scan_engines].sort(), expected, `${tier} scan_engines`);
      assert.equal(yaraIds(hl7Result).includes("HL7_Script_Injection"), tier !== "free", `${tier}: basic rule`);
      assert.equal(yaraIds(pngResult).includes("Data_After_PNG_End"), tier === "gold" || tier === "enterprise", `${tier}: advanced rule`);
      assert.equal(yaraIds(hl7Result).includes("Site_Policy_Marker"), tier === "enterprise", `${tier}: the tenant's own rule`);
      const askedVt = vt.requestsFor(sha256(basic)).length + vt.requestsFor(sha256(advanced)).length > 0;
      assert.equal(askedVt, tier === "gold" || tier === "enterprise", `${tier}: VirusTotal asked`);
    }
  });

  it("a rescan runs at the higher of the caller's and the file's tier, and counts against the caller's day", async () => {
    const gold = await app.key("two-keys", "gold");
    const premium = await app.key("two-keys", "premium");
    // Data after IEND: only gold's advanced rule flags it; premium would call it clean.
    const data = Buffer.concat([png(), Buffer.from("trailing data after IEND, rescanned at premium".padEnd(64, "."))]);
    const up = await upload(app, gold, data, { name: "image.png", query: "?wait=60" });
    const fileId = String(up.body.fileId);
    assert.notEqual((up.body.result as ScanResult).status, "clean");
    const rescan = await call(app, premium, "POST", `/api/medical-files/${fileId}/rescan`);
    assert.equal(rescan.status, 202, JSON.stringify(rescan.body));
    type Scan = { jobId: string; scan_type: string; scan_engines: string[]; results: ScanResult };
    const scans = async () => (await call(app, gold, "GET", `/api/medical-files/${fileId}/scans`)).body.scans as Scan[];
    await eventually(async () => (await scans()).some((s) => s.jobId === rescan.body.scanJobId), 60_000, "the rescan's verdict");
    const again = (await scans()).find((s) => s.jobId === rescan.body.scanJobId)!;
    assert.deepEqual([...again.scan_engines].sort(), [...TIER_POLICIES.gold.engines].sort());
    assert.notEqual(again.results.status, "clean");
    // The upload and this rescan are 2 of premium's 3 a day: one more rescan, then 429.
    assert.equal((await call(app, premium, "POST", `/api/medical-files/${fileId}/rescan`)).status, 202);
    const refused = await call(app, premium, "POST", `/api/medical-files/${fileId}/rescan`);
    assert.deepEqual([refused.status, code(refused)], [429, "DAILY_LIMIT"]);
  });

  it("priority: with one worker and a backlog, an enterprise job queued last runs before the free jobs queued first", async () => {
    const scenario = (await stack.scenario("priority"));
    const intake = await startApiApp(stack, scenario, "intake");
    try {
      const free = await intake.key("ward-free", "free");
      const urgent = await intake.key("er-enterprise", "enterprise");
      const queued: string[] = [];
      for (let i = 0; i < 5; i++) queued.push(String((await upload(intake, free, Buffer.from(`free backlog ${i}\n`), { name: "note.txt" })).body.fileId));
      const last = String((await upload(intake, urgent, Buffer.from("urgent study\n"), { name: "note.txt" })).body.fileId);
      // The intake hears every verdict on the bus, in the order the one worker publishes them.
      const order = recordEvents(intake.service.daemon, "scan_result");
      await stack.daemon({ env: { ...scenario, SCAN_WORKER_CONCURRENCY: "1" } });
      await eventually(async () => order.length === 6, 60_000, "the backlog to be scanned");
      assert.equal(order[0]!.fileId, last, `order: ${order.map((e) => e.fileId).join(", ")}`);
      assert.deepEqual(new Set(order.slice(1).map((e) => e.fileId)), new Set(queued));
    } finally {
      await intake.close();
    }
  });
});
