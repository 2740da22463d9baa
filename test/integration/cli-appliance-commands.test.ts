import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { DATABASE_FILE } from "../../app/store/store.ts";
import { ROOT } from "../harness/clamd.ts";

describe("scan-daemon help, stop, restart and status where no appliance runs", () => {
  let home: string;
  before(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), "msd-no-appliance-"));
  });
  after(() => rm(home, { recursive: true, force: true }));

  const env = () => ({ PATH: process.env.PATH, HOME: process.env.HOME, APPLIANCE_HOME: home });
  const cli = (...args: string[]) => {
    const r = spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, "app/scan-daemon.ts"), ...args], { cwd: ROOT, encoding: "utf8", env: env() });
    return { status: r.status, out: r.stdout, err: r.stderr };
  };

  it("help, --help and no command print every command of docs/cli.md and exit 0; an unknown command prints it and exits 2", async () => {
    const documented = [...(await readFile(path.join(ROOT, "docs/cli.md"), "utf8")).matchAll(/^\| `([a-z]+)[ `]/gm)].map((m) => m[1]!);
    assert.ok(documented.includes("stop") && documented.includes("restart") && documented.includes("help"));
    for (const args of [["help"], ["--help"], []]) {
      const r = cli(...args);
      assert.equal(r.status, 0, args.join(" "));
      for (const command of new Set(documented)) assert.match(r.out, new RegExp(`scan-daemon ${command}\\b`), `help names ${command}`);
      assert.match(r.out, /exit 0 restarted, 1 a program did not start, 2 no such program, 3 no appliance/);
    }
    const unknown = cli("reboot");
    assert.equal(unknown.status, 2);
    assert.match(unknown.err, /unknown command "reboot"[\s\S]*scan-daemon stop/);
  });

  it("the built CLI runs as a program, as npm's bin link and `npx scan-daemon` run it", () => {
    const r = spawnSync(path.join(ROOT, "dist/app/scan-daemon.js"), ["help"], { encoding: "utf8", env: env() });
    assert.equal(r.error, undefined, "dist/app/scan-daemon.js is executable");
    assert.equal(r.status, 0);
    assert.match(r.stdout, /scan-daemon keys\b/);
  });

  it("keys create and list use APPLIANCE_HOME's store, as that appliance's daemon does, without appliance-env.sh", () => {
    const made = cli("keys", "create", "--user", "ward-7", "--tier", "free");
    assert.equal(made.status, 0, made.err);
    assert.ok(existsSync(path.join(home, "data", DATABASE_FILE)), "the key is in APPLIANCE_HOME/data");
    assert.match(cli("keys", "list").out, /ward-7/);
  });

  it("stop is 0 with nothing to stop; status and restart are 3 and say no appliance runs here", () => {
    const stop = cli("stop");
    assert.deepEqual([stop.status, stop.out.trim()], [0, "no appliance is running here: nothing to stop"]);
    for (const args of [["status"], ["restart"], ["restart", "clamd"]]) {
      const r = cli(...args);
      assert.equal(r.status, 3, args.join(" "));
      assert.match(r.err, new RegExp(`no appliance is running for APPLIANCE_HOME=${home}`));
    }
  });
});
