import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { loadConfig } from "../../app/config.ts";
import { ROOT } from "../harness/clamd.ts";
import { describeResult, startScanStack, withScanEngine, type ScanStack } from "../harness/scan-stack.ts";
import { buildDicom } from "../fixtures/dicom.ts";
import { eicar } from "../fixtures/eicar.ts";

const run = promisify(execFile);

async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", path.join(ROOT, "app/scan-daemon.ts"), ...args], { env: { ...process.env, ...env }, cwd: ROOT });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function clamdCommand(port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection({ host: "127.0.0.1", port }, () => s.end(`z${command}\0`));
    let reply = "";
    s.on("data", (d) => (reply += d.toString()));
    s.on("end", () => resolve(reply));
    s.on("error", reject);
  });
}

describe("scan-daemon scan (CLI) and the result cache", () => {
  let stack: ScanStack;
  let env: Record<string, string>;
  let clean: string;
  let infected: string;
  before(async () => {
    stack = await startScanStack();
    env = { ...stack.clamd.env(), SCAN_TMP_DIR: path.join(stack.dir, "cli-work") };
    clean = await stack.file("study.dcm", buildDicom());
    infected = await stack.file("eicar.txt", eicar());
  });
  after(() => stack.close());

  it("exit 0 and one JSON object per line when everything is clean", async () => {
    const { code, stdout } = await cli(["scan", clean, clean, "--json", "--tier", "premium"], env);
    assert.equal(code, 0);
    const lines = stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(lines.length, 2);
    for (const line of lines) {
      assert.equal(line.file, clean);
      assert.equal(line.status, "clean");
      assert.equal(line.fileType, "application/dicom");
      assert.match(line.sha256, /^[0-9a-f]{64}$/);
      assert.match(line.engines.clamav.version, /^ClamAV [\d.]+\/1\//, "engine and database version");
      assert.match(line.engines.yara.version, /^[0-9a-f]{64}$/);
      for (const key of ["status", "threatLevel", "confidence", "findings", "recommendations", "engines", "sha256", "fileType", "scanTimeMs"]) assert.ok(key in line, key);
    }
  });

  it("exit 1 when something is not clean; one human line per file", async () => {
    const { code, stdout } = await cli(["scan", clean, infected], env);
    assert.equal(code, 1);
    const lines = stdout.trim().split("\n");
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, /: clean$/);
    assert.match(lines[1]!, /: infected .*Test\.EICAR/);
  });

  it("scans a study folder recursively, N at a time: one line per file in path order, links skipped, a summary on stderr", async () => {
    const study = path.join(stack.dir, "study-folder");
    await mkdir(path.join(study, "SERIES2"), { recursive: true });
    await mkdir(path.join(study, "SERIES1"), { recursive: true });
    for (const name of ["SERIES1/IM2", "SERIES1/IM1", "SERIES2/IM3"]) await writeFile(path.join(study, name), buildDicom());
    await writeFile(path.join(study, "SERIES2/README.TXT"), eicar());
    await symlink(clean, path.join(study, "SERIES1/LINK"));
    const { code, stdout, stderr } = await cli(["scan", study, "--concurrency", "3"], env);
    assert.equal(code, 1);
    const lines = stdout.trim().split("\n");
    assert.deepEqual(
      lines.map((l) => l.slice(0, l.lastIndexOf(":"))),
      ["SERIES1/IM1", "SERIES1/IM2", "SERIES2/IM3", "SERIES2/README.TXT"].map((n) => path.join(study, n)),
    );
    assert.match(lines[3]!, /: infected/);
    assert.match(stderr, /scanned 4 files \([\d.]+ MB\) in [\d.]+ s, 3 at a time: [\d.]+ MB\/s/);
    assert.match(stderr, /clean 3 · infected 1 · skipped 1 \(not regular files\)/);
    assert.match(stderr, /slowest:\n +[\d.]+ s {2}\//);
    assert.doesNotMatch(stderr, /\u2591|\u2588/, "no progress bar when stderr is not a terminal");

    const json = await cli(["scan", study, "--json"], env);
    const objects = json.stdout.trim().split("\n").map((l) => JSON.parse(l) as { file: string; status: string });
    assert.deepEqual(objects.map((o) => o.status), ["clean", "clean", "clean", "infected"]);
    const threads = Number(/max (\d+)/.exec(await clamdCommand(Number(env.CLAMAV_PORT), "STATS"))![1]);
    assert.match(json.stderr, new RegExp(`, ${Math.min(4, threads)} at a time`), "default: clamd's threads");
  });

  it("draws a progress bar on stderr when it is a terminal (util-linux script gives it one)", async () => {
    const folder = path.join(stack.dir, "bar-folder");
    await mkdir(folder, { recursive: true });
    for (let i = 0; i < 6; i++) await writeFile(path.join(folder, `IM${i}`), buildDicom());
    const command = [process.execPath, "--import", "tsx", path.join(ROOT, "app/scan-daemon.ts"), "scan", folder, "--concurrency", "2"].map((a) => `'${a}'`).join(" ");
    const { stdout } = await run("script", ["-qec", `${command} >/dev/null`, "/dev/null"], { env: { ...process.env, ...env }, cwd: ROOT });
    assert.match(stdout, /[\u2591\u2588]+ \d\/6 files \| [\d.]+ MB/);
    assert.match(stdout, /scanned 6 files/);
  });

  it("refuses a bad --concurrency and a folder with nothing in it", async () => {
    for (const n of ["0", "65", "two"]) {
      const r = await cli(["scan", clean, "--concurrency", n], env);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /--concurrency: 1 to 64/);
    }
    const empty = path.join(stack.dir, "empty-folder");
    await mkdir(empty, { recursive: true });
    const r = await cli(["scan", empty], env);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no files to scan/);
  });

  it("exit 2 when clamd is not there, or on a bad tier", async () => {
    const down = await cli(["scan", clean, "--json"], { ...env, CLAMAV_PORT: "1" });
    assert.equal(down.code, 2);
    assert.equal(JSON.parse(down.stdout.trim()).status, "error");
    assert.equal((await cli(["scan", clean, "--tier", "platinum"], env)).code, 2);
  });

  it("exit 2 with the variable named when the configuration is bad", async () => {
    const r = await cli(["scan", clean], { ...env, CLAMAV_PORT: "not-a-port" });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /CLAMAV_PORT/);
  });

  it("rules test prints the matching rules", async () => {
    const polyglot = await stack.file("poly.dcm", buildDicom({ preamble: Buffer.from("MZ\x90\x00") }));
    const r = await cli(["rules", "test", polyglot], env);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /DICOM_Preamble_PE/);
  });

  it("the same bytes at the same versions are served from the cache; a rescan bypasses it", async () => {
    const file = await stack.file("cache.dcm", buildDicom({ elements: [{ group: 0x0008, element: 0x0060, vr: "CS", value: Buffer.from("MR") }] }));
    const first = await stack.scan(file, "gold");
    assert.equal(first.status, "clean");
    assert.ok(!first.engines.clamav?.cached);
    const second = await stack.scan(file, "gold");
    assert.equal(second.status, "clean");
    assert.equal(second.engines.clamav?.cached, true);
    assert.equal(second.engines.yara?.cached, true);
    assert.ok(!second.engines.validation?.cached, "validation always runs");
    const rescan = await stack.scan(file, "gold", { bypassCache: true });
    assert.ok(!rescan.engines.clamav?.cached);
    const otherTier = await stack.scan(file, "premium");
    assert.ok(!otherTier.engines.clamav?.cached, "the tier is part of the key");
  });

  it("enterprise tenants' own rules apply to that tenant's enterprise scans only", async () => {
    const custom = path.join(stack.dir, "custom-rules");
    await mkdir(path.join(custom, "acme"), { recursive: true });
    await writeFile(path.join(custom, "acme", "acme.yar"), 'rule Acme_Forbidden_Marker { meta: severity = "high" verdict = "suspicious" description = "ACME policy" strings: $m = "ACME-FORBIDDEN" condition: $m }\n');
    const file = await stack.file("note.txt", Buffer.from("Referral note ACME-FORBIDDEN\n"));
    await withScanEngine(loadConfig({ ...env, YARA_CUSTOM_RULES_DIR: custom, SCAN_TMP_DIR: path.join(stack.dir, "custom-work") }), async (engine) => {
      const acme = await engine.pipeline.scan({ path: file, tier: "enterprise", tenantId: "acme" });
      assert.equal(acme.status, "suspicious", describeResult(acme));
      assert.ok(acme.findings.some((f) => f.id === "Acme_Forbidden_Marker" && f.severity === "high"));
      for (const other of [{ tier: "enterprise" as const, tenantId: "globex" }, { tier: "gold" as const, tenantId: "acme" }]) {
        assert.equal((await engine.pipeline.scan({ path: file, ...other })).status, "clean", JSON.stringify(other));
      }
    });
  });

  it("reports progress from 0 to 100, rising", async () => {
    const seen: number[] = [];
    const file = await stack.file("progress.dcm", buildDicom());
    await stack.engine.pipeline.scan({ path: file, tier: "gold", bypassCache: true }, (p) => seen.push(p));
    assert.equal(seen.at(-1), 100);
    assert.ok(seen.length >= 3, JSON.stringify(seen));
    assert.ok(seen.every((p, i) => i === 0 || p > seen[i - 1]!), JSON.stringify(seen));
  });

  it("a definitions update (new daily version) misses the cache: the clean file is now infected", async () => {
    const marker = "MEDICAL-SCAN-DAEMON-TEST-MARKER-7f3a";
    const file = await stack.file("later.txt", Buffer.from(`Discharge summary\n${marker}\n`));
    assert.equal((await stack.scan(file, "free")).status, "clean");
    const extra = path.join(stack.dir, "update.ndb");
    await writeFile(extra, `Test.Update.Marker:0:*:${Buffer.from(marker).toString("hex")}\n`);
    execFileSync("bash", [path.join(ROOT, "scripts/make-test-definitions.sh"), stack.clamd.dbDir, "2", extra]);
    assert.match(await clamdCommand(stack.clamd.port, "RELOAD"), /RELOADING/);
    let r = await stack.scan(file, "free");
    for (let i = 0; i < 50 && r.status !== "infected"; i++) {
      await new Promise((res) => setTimeout(res, 200));
      r = await stack.scan(file, "free");
    }
    assert.equal(r.status, "infected", describeResult(r));
    assert.ok(r.findings.some((f) => f.id.startsWith("Test.Update.Marker")));
    assert.match(r.engines.clamav?.version ?? "", /^ClamAV [\d.]+\/2\//, "the result names the new database version");
  });
});
