import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ROOT } from "../harness/clamd.ts";
import { freePort } from "../harness/ports.ts";

/** init-clamav.sh alone, in a fresh APPLIANCE_HOME: its output, exit code and time. */
function initClamav(home: string, env: Record<string, string>) {
  const started = Date.now();
  const run = spawnSync("bash", [path.join(ROOT, "scripts/init-clamav.sh")], {
    encoding: "utf8",
    timeout: 60_000,
    env: { PATH: process.env.PATH, APPLIANCE_HOME: home, FRESHCLAM_INIT_TIMEOUT: "5", CLAMAV_TEST_DEFINITIONS: "false", ...env },
  });
  return { out: run.stdout + run.stderr, status: run.status, ms: Date.now() - started };
}

describe("init-clamav checks where definitions come from and never blocks the start", { timeout: 120_000 }, () => {
  let dir: string;
  let mirror: net.Server;
  let open: string;
  let closed: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "msd-init-"));
    mirror = net.createServer((socket) => socket.end());
    await new Promise<void>((r) => mirror.listen(0, "127.0.0.1", r));
    open = `http://127.0.0.1:${(mirror.address() as net.AddressInfo).port}`;
    closed = `http://127.0.0.1:${await freePort()}`;
  });
  after(async () => {
    mirror.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** An APPLIANCE_HOME whose definitions volume already holds a database. */
  const withDefinitions = async (name: string) => {
    const home = path.join(dir, name);
    await mkdir(path.join(home, "clamav-db"), { recursive: true });
    await writeFile(path.join(home, "clamav-db", "site.ndb"), "Site.Test-1:0:*:4d53442d\n");
    return home;
  };

  it("logs each source as reachable or not: private mirror, custom URLs over http and file", async () => {
    const home = await withDefinitions("sources");
    const local = path.join(home, "clamav-db", "site.ndb");
    const run = initClamav(home, { CLAMAV_PRIVATE_MIRROR: open, CLAMAV_CUSTOM_DATABASE_URLS: `${closed}/site.ndb file://${local}`, CLAMAV_CUSTOM_DATABASE_ALLOW_HTTP: "true" });
    assert.equal(run.status, 0, run.out);
    assert.match(run.out, new RegExp(`definitions source ${open}: reachable`));
    assert.match(run.out, new RegExp(`definitions source ${closed}/site.ndb: NOT reachable`));
    assert.match(run.out, new RegExp(`definitions source file://${local}: reachable`));
    assert.doesNotMatch(run.out, /air-gapped|database\.clamav\.net/, "a private mirror replaces the official one");
    assert.match(run.out, /definitions found/);
  });

  it("refuses custom databases over plain http and allow-list databases unless each is allowed", async () => {
    const home = await withDefinitions("refused");
    const urls = { CLAMAV_CUSTOM_DATABASE_URLS: `${open}/site.ndb https://sigs.example.org/site.FP https://sigs.example.org/site.ign2 https://sigs.example.org/site.ndb` };
    const conf = () => readFileSync(path.join(home, "run", "clamav", "freshclam.conf"), "utf8");
    const refused = initClamav(home, urls);
    assert.equal(refused.status, 0, refused.out);
    assert.match(refused.out, new RegExp(`${open}/site.ndb REFUSED: plain http`));
    assert.match(refused.out, /site\.FP REFUSED: an allow-list database/);
    assert.match(refused.out, /site\.ign2 REFUSED: an allow-list database/);
    assert.deepEqual(conf().match(/^DatabaseCustomURL .*$/gm), ["DatabaseCustomURL https://sigs.example.org/site.ndb"]);
    const allowed = initClamav(home, { ...urls, CLAMAV_CUSTOM_DATABASE_ALLOW_HTTP: "true", CLAMAV_CUSTOM_DATABASE_ALLOW_ALLOWLISTS: "true" });
    assert.doesNotMatch(allowed.out, /REFUSED/);
    assert.equal(conf().match(/^DatabaseCustomURL /gm)?.length, 4);
  });

  it("without a mirror it probes the official one; nothing reachable is reported as air-gapped and the start carries on", async () => {
    const home = await withDefinitions("official");
    const run = initClamav(home, {});
    assert.equal(run.status, 0, run.out);
    assert.match(run.out, /definitions source https:\/\/database\.clamav\.net: (reachable|NOT reachable)/);
    const gapped = initClamav(await withDefinitions("gapped"), { CLAMAV_PRIVATE_MIRROR: closed });
    assert.equal(gapped.status, 0, gapped.out);
    assert.match(gapped.out, /no definitions source is reachable: an air-gapped site\? Carrying on/);
    assert.match(gapped.out, /definitions found/);
    assert.ok(gapped.ms < 15_000, `${gapped.ms} ms`);
  });

  it("air-gapped with no definitions at all: says so and exits 0 within its time limit", () => {
    const run = initClamav(path.join(dir, "empty"), { CLAMAV_PRIVATE_MIRROR: closed });
    assert.equal(run.status, 0, run.out);
    assert.match(run.out, /NOT reachable/);
    assert.match(run.out, /ERROR: no ClamAV definitions/);
    assert.ok(run.ms < 30_000, `${run.ms} ms`);
  });

  it("narrows the app's folders at every start: DATA_DIR 0750, its scratch folder and the quarantine 0700", async () => {
    const home = await withDefinitions("modes");
    const data = path.join(home, "data");
    const tmp = path.join(home, "tmp");
    const quarantine = path.join(home, "quarantine");
    for (const folder of [data, tmp, quarantine]) await mkdir(folder, { recursive: true, mode: 0o755 });
    const run = initClamav(home, { CLAMAV_OFFICIAL_DATABASES: "false" });
    assert.equal(run.status, 0, run.out);
    assert.equal((await stat(data)).mode & 0o777, 0o750);
    assert.equal((await stat(tmp)).mode & 0o777, 0o700);
    assert.equal((await stat(quarantine)).mode & 0o777, 0o700);
  });

  it("no source configured at all (own databases only, none listed) is said plainly", async () => {
    const run = initClamav(await withDefinitions("none"), { CLAMAV_OFFICIAL_DATABASES: "false" });
    assert.equal(run.status, 0, run.out);
    assert.match(run.out, /no definitions source configured/);
  });
});
