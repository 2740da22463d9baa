import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { ScanResult } from "../../app/verdict/scan-result.ts";
import { buildDicom } from "../fixtures/dicom.ts";
import { eicar } from "../fixtures/eicar.ts";
import { Appliance } from "../harness/appliance.ts";
import { ROOT } from "../harness/clamd.ts";
import { eventually } from "../harness/service-stack.ts";

const hex = (s: string) => Buffer.from(s, "latin1").toString("hex");
/** A file no signature knows until the definitions update below adds one for this marker. */
const CANARY_MARKER = "MSD-CANARY-7f3c9a1e-PAYLOAD";
const canary = Buffer.concat([Buffer.from("canary file\n"), Buffer.from(CANARY_MARKER), Buffer.from("\nend\n")]);

describe("the native appliance under a real supervisord", { timeout: 600_000 }, () => {
  let appliance: Appliance;
  let key: string;
  let dbDir: string;
  /** The hospital's own signature server, for freshclam's DatabaseCustomURL. */
  let ndb = `Msd.Test.Placeholder-1:0:*:${hex("MSD-PLACEHOLDER-NEVER-IN-A-FILE")}\n`;
  const sigServer = http.createServer((req, res) => {
    if (req.url !== "/msd-custom.ndb") return res.writeHead(404).end();
    res.writeHead(200, { "content-type": "application/octet-stream" }).end(ndb);
  });

  before(async () => {
    await new Promise<void>((r) => sigServer.listen(0, "127.0.0.1", r));
    dbDir = await mkdtemp(path.join(os.tmpdir(), "msd-appliance-db-"));
    // The definitions volume already holds the development set, as after a first start.
    execFileSync("bash", [path.join(ROOT, "scripts/make-test-definitions.sh"), dbDir]);
    appliance = await Appliance.start({
      CLAMAV_DB_DIR: dbDir,
      CLAMAV_OFFICIAL_DATABASES: "false",
      CLAMAV_CUSTOM_DATABASE_URLS: `http://127.0.0.1:${(sigServer.address() as AddressInfo).port}/msd-custom.ndb`,
      CLAMAV_CUSTOM_DATABASE_ALLOW_HTTP: "true",
    });
    key = (await appliance.key("appliance-test", "gold")).key;
  });
  after(async () => {
    await appliance?.destroy();
    await rm(dbDir, { recursive: true, force: true });
    sigServer.closeAllConnections();
    sigServer.close();
  });

  const upload = async (data: Buffer, name: string): Promise<ScanResult> => {
    const form = new FormData();
    form.append("file", new Blob([data]), name);
    const res = await fetch(`${appliance.base}/api/medical-files/upload?wait=60`, { method: "POST", body: form, headers: { authorization: `Bearer ${key}` } });
    const body = (await res.json()) as { result?: ScanResult };
    assert.equal(res.status, 200, JSON.stringify(body));
    return body.result!;
  };

  it("boots: health-check.sh exits 0, every program RUNNING, EICAR over HTTP is infected, health-check.sh also by a symlink to it", async () => {
    const health = await appliance.run("healthcheck/health-check.sh");
    assert.equal(health.status, 0, health.output);
    assert.match(health.output, /HEALTHY/);
    const programs = await appliance.programs();
    assert.deepEqual(Object.keys(programs).sort(), ["clamd", "freshclam", "init-clamav", "redis", "scan-daemon:intake", "scan-daemon:worker"]);
    for (const [name, state] of Object.entries(programs)) assert.equal(state, name === "init-clamav" ? "EXITED" : "RUNNING", `${name} is ${state}`);
    const result = await upload(eicar(), "eicar.dcm");
    assert.equal(result.status, "infected");
    assert.ok(result.findings.some((f) => f.engine === "clamav" && /EICAR/i.test(f.id)));
    // The verdict was counted by the worker; the intake's /metrics adds what the worker reports.
    await eventually(async () => /medical_scan_total\{status="infected",tier="gold",engine="overall"\} [1-9]/.test(await (await fetch(`${appliance.base}/metrics`)).text()), 10_000, "the worker's verdict in the intake's /metrics");
    const ready = (await (await fetch(`${appliance.base}/health/ready`)).json()) as { checks: Record<string, { state: string; workers?: number }> };
    assert.equal(ready.checks.yara?.state, "compiled");
    assert.equal(ready.checks.yara?.workers, 1, "the intake knows the worker through its reports");
    // freshclam may already have fetched the site's own database beside the development set.
    assert.ok(["test-definitions-only", "custom"].includes(ready.checks.definitions!.state), ready.checks.definitions!.state);
    // The image's /usr/local/bin/health-check.sh is a symlink: the script finds its files through it.
    const link = path.join(dbDir, "..", `health-check-link-${process.pid}`, "health-check.sh");
    await mkdir(path.dirname(link), { recursive: true });
    await symlink(path.join(ROOT, "healthcheck/health-check.sh"), link);
    try {
      const byName = await appliance.run(link);
      assert.equal(byName.status, 0, byName.output);
      assert.match(byName.output, /^HEALTHY$/m);
    } finally {
      await rm(path.dirname(link), { recursive: true, force: true });
    }
    const status = await appliance.cli(["status"]);
    assert.equal(status.status, 0, status.output);
    assert.match(status.output, /scan-daemon:intake\s+RUNNING/);
    assert.match(status.output, /scan-daemon:worker\s+RUNNING/);
  });

  it("clamd SIGKILLed: the health check fails naming clamd, supervisord restarts it, the check passes again; nothing uploaded meanwhile is clean", async () => {
    const before = await appliance.pid("clamd");
    process.kill(before, "SIGKILL");
    const broken = await appliance.run("healthcheck/health-check.sh");
    assert.notEqual(broken.status, 0);
    assert.match(broken.output, /UNHEALTHY: .*clamd/);
    const meanwhile = await Promise.all([upload(eicar(), "a.dcm"), upload(buildDicom(), "b.dcm")]);
    assert.notEqual(meanwhile[0].status, "clean");
    for (const r of meanwhile) if (r.status === "clean") assert.equal(r.engines.clamav?.ran, true, "clean only once clamd scanned it");
    await eventually(async () => (await appliance.run("healthcheck/health-check.sh")).status === 0, 60_000, "the health check to pass again");
    assert.notEqual(await appliance.pid("clamd"), before, "a new clamd");
    assert.equal((await upload(eicar(), "c.dcm")).status, "infected");
  });

  it("a definitions update for real: freshclam fetches a new signature (DatabaseCustomURL), clamd reloads, a clean file is now infected, nothing restarted", async () => {
    assert.equal((await upload(canary, "canary.txt")).status, "clean");
    const pids = { clamd: await appliance.pid("clamd"), ...(await appliance.appPids()) };
    ndb += `Msd.Test.Canary-1:0:*:${hex(CANARY_MARKER)}\n`;
    const update = await appliance.run("scripts/update-definitions.sh");
    assert.equal(update.status, 0, update.output);
    assert.match(update.output, /msd-custom\.ndb updated/);
    const infected = await eventually(
      async () => {
        const r = await upload(canary, "canary.txt");
        return r.status === "infected" ? r : undefined;
      },
      60_000,
      "the canary to be detected",
    );
    assert.ok(infected.findings.some((f) => f.id.includes("Msd.Test.Canary")));
    const ready = (await (await fetch(`${appliance.base}/health/ready`)).json()) as { checks: Record<string, { state: string }> };
    assert.equal(ready.checks.definitions?.state, "custom", "the site's own database is there beside the development set");
    assert.deepEqual({ clamd: await appliance.pid("clamd"), ...(await appliance.appPids()) }, pids, "no restart");
  });

  it("SIGTERM stops every program cleanly", async () => {
    const pids = await Promise.all(["clamd", "freshclam", "redis", "scan-daemon:intake", "scan-daemon:worker"].map((p) => appliance.pid(p)));
    const log = await appliance.stop();
    assert.match(log, /stopped: intake \(exit status 0\)/);
    assert.match(log, /stopped: worker \(exit status 0\)/);
    assert.ok(log.indexOf("stopped: intake") < log.indexOf("stopped: worker"), "intake stops taking uploads before the worker finishes");
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), "gone");
  });
});
