import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { ROOT } from "../harness/clamd.ts";

const read = (file: string) => readFileSync(path.join(ROOT, file), "utf8");
/** docker-compose needs REDIS_PASSWORD, as a deployment's .env gives it. */
const run = (cmd: string, args: string[], env: Record<string, string> = { REDIS_PASSWORD: "compose-check-password" }) =>
  execFileSync(cmd, args, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
/** Dockerfile instructions with their continuation lines joined. */
const dockerfile = read("Dockerfile").replace(/\\\n/g, " ").split("\n").filter((l) => l.trim() && !l.trim().startsWith("#"));

describe("the image's files, checked without a Docker engine", () => {
  it("docker-compose config -q passes with REDIS_PASSWORD, and refuses without it: Redis always has a password", () => {
    run("docker-compose", ["-f", "docker-compose.yml", "config", "-q"]);
    assert.throws(() => run("docker-compose", ["-f", "docker-compose.yml", "config", "-q"], { REDIS_PASSWORD: "" }), /set REDIS_PASSWORD in \.env/);
    const config = run("docker-compose", ["-f", "docker-compose.yml", "config"]);
    assert.match(config, /--requirepass/);
    assert.match(config, /REDISCLI_AUTH/);
  });

  it("the scale-out compose file: PostgreSQL and Redis with passwords, appliances with their own HOST_ID on shared data and quarantine volumes", () => {
    const env = { REDIS_PASSWORD: "compose-check-password", POSTGRES_PASSWORD: "compose-check-pg" };
    run("docker-compose", ["-f", "docker-compose.scale.yml", "config", "-q"], env);
    assert.throws(() => run("docker-compose", ["-f", "docker-compose.scale.yml", "config", "-q"], { ...env, POSTGRES_PASSWORD: "" }), /set POSTGRES_PASSWORD in \.env/);
    const config = run("docker-compose", ["-f", "docker-compose.scale.yml", "config"], env);
    assert.match(config, /DATABASE_URL: postgres:\/\/scan_daemon:compose-check-pg@postgres:5432\/scan_daemon/);
    assert.match(config, /HOST_ID: appliance-a/);
    assert.match(config, /HOST_ID: appliance-b/);
    assert.equal(config.match(/- app-data:\/var\/lib\/medical-scan-daemon\/data:rw/g)?.length, 2, "both appliances mount one DATA_DIR");
    assert.equal(config.match(/- quarantine_data:\/var\/lib\/medical-scan-daemon\/quarantine:rw/g)?.length, 2, "and one QUARANTINE_DIR");
  });

  it("shellcheck passes on every script", () => {
    const scripts = [...readdirSync(path.join(ROOT, "scripts")).filter((f) => f.endsWith(".sh")).map((f) => `scripts/${f}`), "healthcheck/health-check.sh", ".ci/run"];
    run("shellcheck", ["-x", ...scripts]);
  });

  it("promtool accepts the alert rules, and they cover the seed's conditions", () => {
    assert.match(run("promtool", ["check", "rules", "docker/prometheus/alerts.yml"]), /SUCCESS: 7 rules found/);
    const rules = read("docker/prometheus/alerts.yml");
    for (const expr of [/queue_depth\{state="waiting"\}\) > 100/, /> 0\.05/, /medical_clamd_up == 0/, /medical_clamd_path_refusals_total/, /> 300/, /status="infected"/]) assert.match(rules, expr);
  });

  it("every path the Dockerfile copies from the build context exists", () => {
    const copies = dockerfile.filter((l) => /^COPY\s/.test(l) && !l.includes("--from="));
    assert.ok(copies.length >= 8);
    for (const line of copies) {
      const sources = line.trim().split(/\s+/).slice(1, -1);
      for (const src of sources) assert.ok(existsSync(path.join(ROOT, src)), `${src} (${line.trim()})`);
    }
  });

  it("image and native run install the same package list", () => {
    const image = dockerfile.find((l) => l.includes("install-packages.sh /tmp/packages.txt"));
    assert.ok(image, "the image runs scripts/install-packages.sh on the list");
    assert.ok(dockerfile.some((l) => /^COPY docker\/packages\.txt \/tmp\/packages\.txt$/.test(l.trim())));
    const native = read("scripts/appliance.sh").split("\n").filter((l) => l.includes("install-packages.sh"));
    assert.deepEqual(native.map((l) => l.trim()), ["bash scripts/install-packages.sh docker/packages.txt"]);
  });

  it("npm test installs, as npm run appliance does, the package of every tool the tests run", () => {
    const lists = [...read("scripts/test.sh").matchAll(/^bash scripts\/install-packages\.sh (.+)$/gm)].flatMap((m) => m[1]!.split(/\s+/));
    assert.deepEqual(lists, ["docker/packages.txt", "docker/packages-test.txt"]);
    const installed = new Set(lists.flatMap((list) => read(list).split("\n").filter((l) => l.trim() && !l.startsWith("#"))));
    const tools = ["/usr/bin/shellcheck", "/usr/bin/docker-compose", "/usr/bin/promtool", "/usr/sbin/clamd", "/usr/bin/freshclam", "/usr/bin/sigtool", "/usr/bin/redis-server", "/usr/bin/supervisord", "/usr/share/clamav-testfiles/clam.exe"];
    for (const tool of tools) {
      const owner = run("dpkg", ["-S", tool]).split(":")[0]!;
      assert.ok(installed.has(owner), `${tool} comes from ${owner}, which scripts/test.sh does not install`);
    }
    assert.match(read("scripts/test.sh"), /^\[\[ -d node_modules \]\] \|\| npm install/m);
  });

  it("the build stage pins the npm that wrote the lockfile before it installs from it", () => {
    const pin = dockerfile.findIndex((l) => /^RUN npm install -g "npm@\$\{NPM_VERSION\}"/.test(l.trim()));
    const install = dockerfile.findIndex((l) => l.trim().startsWith("RUN npm install --no-audit"));
    assert.ok(pin > 0 && pin < install, "npm is pinned before npm install");
    assert.match(dockerfile.join("\n"), /^ARG NPM_VERSION=11\.\d+\.\d+$/m);
  });

  it("every variable supervisord.conf reads is set by the image and by the native environment", () => {
    const used = new Set([...read("docker/supervisor/supervisord.conf").matchAll(/%\(ENV_(\w+)\)s/g)].map((m) => m[1]!));
    const image = new Set([...dockerfile.join(" ").matchAll(/\b([A-Z][A-Z0-9_]+)=/g)].map((m) => m[1]!));
    const native = read("scripts/appliance-env.sh").replace(/\\\n/g, " ").split("\n").filter((l) => l.startsWith("export")).join(" ");
    for (const name of used) {
      assert.ok(image.has(name), `the Dockerfile's ENV sets ${name}`);
      assert.ok(native.includes(` ${name}`), `appliance-env.sh exports ${name}`);
    }
  });

  it("compose mounts a named volume on every folder the image declares as one", () => {
    const declared = JSON.parse(/^VOLUME\s+(\[.*\])/m.exec(dockerfile.join("\n"))![1]!) as string[];
    const compose = read("docker-compose.yml");
    for (const dir of declared) assert.match(compose, new RegExp(`- [a-z_-]+:${dir}\\n`), dir);
    assert.match(compose, /--appendonly yes/);
    assert.match(run("docker-compose", ["-f", "docker-compose.yml", "config"]), /stop_grace_period: 3m/, "docker stop lets supervisord stop every program");
    assert.match(compose, /--maxmemory-policy noeviction/);
  });

  it("docker-compose config names the four promised volumes and mounts them where the deployment guide says", () => {
    const config = run("docker-compose", ["-f", "docker-compose.yml", "config"]);
    const names = run("docker-compose", ["-f", "docker-compose.yml", "config", "--volumes"]).split("\n").filter(Boolean);
    const promised = { clamav_data: "/var/lib/clamav", quarantine_data: "/var/lib/medical-scan-daemon/quarantine", supervisor_logs: "/var/log/supervisor", clamav_logs: "/var/log/clamav" };
    for (const [name, mount] of Object.entries(promised)) {
      assert.ok(names.includes(name), `volume ${name} in ${names.join(", ")}`);
      assert.match(config, new RegExp(`^    - ${name}:${mount}:rw$`, "m"), `${name} on ${mount}`);
    }
    for (const old of ["clamav-db", "quarantine", "supervisor-logs", "clamav-logs"]) assert.ok(!names.includes(old), `the old name ${old} is gone`);
    const ops = read("docs/operations.md");
    assert.match(ops, /docker-compose run --rm --no-deps -v "\$PWD":\/backup medical-scan-daemon tar czf \/backup\/clamav_data\.tgz -C \/var\/lib\/clamav \./);
    assert.match(ops, /docker-compose run --rm --no-deps -v "\$PWD":\/backup medical-scan-daemon tar xzf \/backup\/clamav_data\.tgz -C \/var\/lib\/clamav/);
    assert.match(ops, /project name/);
  });

  it("freshclam checks once every 24 hours by default, in the image, natively and in compose", () => {
    assert.match(read("docker/clamav/freshclam.conf"), /^Checks 1$/m);
    assert.match(read("scripts/appliance-env.sh"), /^: "\$\{FRESHCLAM_CHECKS:=1\}"$/m);
    assert.match(run("docker-compose", ["-f", "docker-compose.yml", "config"]), /FRESHCLAM_CHECKS: '1'/);
    assert.match(read("scripts/init-clamav.sh"), /^ {2}echo "Checks \$FRESHCLAM_CHECKS"$/m);
  });
});
