import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { chmod, chown, mkdir, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ROOT } from "../harness/clamd.ts";

/** Every file and folder under `dir`, with its owner. */
async function owners(dir: string): Promise<{ file: string; uid: number }[]> {
  const found: { file: string; uid: number }[] = [];
  for (const name of await readdir(dir, { recursive: true })) {
    const file = path.join(dir, name);
    found.push({ file, uid: (await stat(file)).uid });
  }
  return found;
}

/**
 * `docker compose exec medical-scan-daemon scan-daemon keys create …` runs as root while the
 * daemon runs as APP_USER (the image's node): the CLI must leave every file it writes usable by
 * the daemon. Here APP_USER is Debian's `nobody`, the daemon's folders are its own, and the
 * commands run as root, as they do in the container.
 */
describe("CLI commands run as root write the daemon's files as APP_USER", () => {
  let home: string;
  let env: Record<string, string>;
  const uid = Number(execFileSync("id", ["-u", "nobody"], { encoding: "utf8" }));
  const gid = Number(execFileSync("id", ["-g", "nobody"], { encoding: "utf8" }));
  const cli = (args: string[], extra: Record<string, string> = {}) =>
    spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, "app/scan-daemon.ts"), ...args], { cwd: ROOT, env: { ...env, ...extra }, encoding: "utf8" });

  before(async () => {
    assert.equal(process.getuid?.(), 0, "this test runs as root, as CI and the container's exec do");
    home = await mkdtemp(path.join(os.tmpdir(), "msd-cli-root-"));
    await chmod(home, 0o755);
    const dirs = { DATA_DIR: "data", LOG_DIR: "logs", QUARANTINE_DIR: "quarantine", SCAN_TMP_DIR: "tmp" };
    env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, APP_USER: "nobody" };
    for (const [name, sub] of Object.entries(dirs)) {
      const dir = path.join(home, sub);
      await mkdir(dir);
      await chown(dir, uid, gid);
      env[name] = dir;
    }
  });
  after(() => rm(home, { recursive: true, force: true }));

  it("keys create, keys list and audit verify as root leave only files owned by APP_USER", async () => {
    const created = cli(["keys", "create", "--user", "ward-7", "--tier", "premium"]);
    assert.equal(created.status, 0, created.stderr);
    assert.match(created.stdout.trim().split("\n").at(-1)!, /^\S{20,}$/, "the key, last line");
    for (const args of [["keys", "list"], ["audit", "verify"]]) {
      const r = cli(args);
      assert.equal(r.status, 0, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
    }
    const files = [...(await owners(env.DATA_DIR!)), ...(await owners(env.LOG_DIR!))];
    assert.ok(files.some((f) => f.file.endsWith("scan-audit.log")), "the audit log was written");
    assert.deepEqual(files.filter((f) => f.uid !== uid), [], "every file belongs to APP_USER");
  });

  it("an APP_USER that does not exist stops the command with a message naming -u", () => {
    const r = cli(["keys", "list"], { APP_USER: "no-such-user-msd" });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /APP_USER="no-such-user-msd": no such user.*-u node/);
  });
});
