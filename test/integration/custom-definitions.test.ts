import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { ScanResult } from "../../app/verdict/scan-result.ts";
import { eicar } from "../fixtures/eicar.ts";
import { call, startApiApp, upload, type ApiApp } from "../harness/api-app.ts";
import { CLAM_EXE } from "../harness/clamd.ts";
import { startServiceStack, type ServiceStack } from "../harness/service-stack.ts";

type Checks = Record<string, { ok: boolean; state: string; version?: string; definitionsAgeHours?: number }>;

/**
 * An air-gapped hospital with CLAMAV_OFFICIAL_DATABASES=false: clamd loads only the site's own
 * databases (here an .ndb and an .hdb, as DatabaseCustomURL or an operator would drop them), and
 * its VERSION then names no database version at all.
 */
describe("readiness with the site's own databases only (CLAMAV_OFFICIAL_DATABASES=false)", () => {
  let stack: ServiceStack;
  const apps: ApiApp[] = [];
  const app = async (env: Record<string, string>) => {
    const a = await startApiApp(stack, env);
    apps.push(a);
    return a;
  };

  before(async () => {
    stack = await startServiceStack();
    await stack.clamd.stop();
    for (const name of await readdir(stack.clamd.dbDir)) await rm(path.join(stack.clamd.dbDir, name));
    await writeFile(path.join(stack.clamd.dbDir, "site.ndb"), `Site.EICAR-1:0:*:${eicar().toString("hex")}\n`);
    await writeFile(path.join(stack.clamd.dbDir, "site.hdb"), execFileSync("sigtool", ["--md5", CLAM_EXE]));
    await stack.clamd.launch();
  });
  after(async () => {
    for (const a of apps) await a.close();
    await stack.close();
  });

  it("is ready, dates the definitions by the newest database file and detects with them", async () => {
    const site = await app({ CLAMAV_DB_DIR: stack.clamd.dbDir, CLAMAV_OFFICIAL_DATABASES: "false" });
    const ready = await call(site, null, "GET", "/health/ready");
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    const checks = ready.body.checks as Checks;
    assert.match(checks.clamd!.version!, /^ClamAV [\d.]+\/-$/, "clamd names no database version");
    assert.equal(checks.clamd!.state, "up");
    assert.ok(checks.clamd!.definitionsAgeHours! < 1, "aged from the files just written");
    assert.equal(checks.definitions!.state, "custom");
    const key = await site.key("site", "free");
    const result = (await upload(site, key, eicar(), { name: "eicar.txt", query: "?wait=30" })).body.result as ScanResult;
    assert.equal(result.status, "infected");
    assert.ok(result.findings.some((f) => f.id.startsWith("Site.EICAR")));
  });

  it("with official databases expected, the same clamd is not ready (no definitions version)", async () => {
    const official = await app({ ...(await stack.scenario("official")), CLAMAV_DB_DIR: stack.clamd.dbDir });
    const ready = await call(official, null, "GET", "/health/ready");
    assert.equal(ready.status, 503);
    assert.equal((ready.body.checks as Checks).clamd!.state, "no-definitions-version");
  });

  it("with no database file at all, it is not ready", async () => {
    const empty = path.join(stack.dir, "empty-db");
    await mkdir(empty, { recursive: true });
    const none = await app({ ...(await stack.scenario("none")), CLAMAV_DB_DIR: empty, CLAMAV_OFFICIAL_DATABASES: "false" });
    const ready = await call(none, null, "GET", "/health/ready");
    assert.equal(ready.status, 503);
    const checks = ready.body.checks as Checks;
    assert.equal(checks.clamd!.state, "no-definitions");
    assert.equal(checks.definitions!.state, "missing");
  });
});
