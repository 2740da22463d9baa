import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ROOT } from "./clamd.ts";
import { freePort } from "./ports.ts";
import { terminate } from "./processes.ts";
import { eventually } from "./service-stack.ts";

export interface CommandResult {
  readonly status: number;
  readonly output: string;
}

/**
 * The native appliance for real: `npm run appliance`'s script (scripts/appliance.sh) with its
 * supervisord, on free ports under a private APPLIANCE_HOME, with its own local Redis.
 */
export class Appliance {
  private constructor(
    readonly home: string,
    readonly env: Record<string, string>,
    private child: ChildProcess | null,
    private output: string[],
    /** From starting appliance.sh (the build already done) to the first passing health check. */
    public bootMs = 0,
  ) {}

  static async start(extraEnv: Record<string, string> = {}): Promise<Appliance> {
    buildIfStale();
    const home = await spreadFolder(await mkdtemp(path.join(await spreadFolder(path.join(os.tmpdir(), "msd-appliances")), "home-")));
    const [port, wsPort, clamdPort, redisPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? home,
      APPLIANCE_HOME: home,
      APPLIANCE_SKIP_BUILD: "true",
      PORT: String(port),
      SCAN_DAEMON_WS_PORT: String(wsPort),
      CLAMAV_PORT: String(clamdPort),
      REDIS_PORT: String(redisPort),
      FRESHCLAM_INIT_TIMEOUT: "20",
      ...extraEnv,
    };
    const output: string[] = [];
    const spawnedAt = performance.now();
    const child = spawn("bash", [path.join(ROOT, "scripts/appliance.sh")], { env, stdio: ["ignore", "pipe", "pipe"], detached: false });
    child.stdout!.on("data", (d: Buffer) => output.push(d.toString()));
    child.stderr!.on("data", (d: Buffer) => output.push(d.toString()));
    const appliance = new Appliance(home, env, child, output);
    await eventually(async () => {
      if (child.exitCode !== null) throw new Error(`the appliance exited with ${child.exitCode}: ${output.join("")}`);
      return (await appliance.run("healthcheck/health-check.sh")).status === 0;
    }, 120_000, "the appliance's health check to pass").catch(async (err: Error) => {
      throw new Error(`${err.message}\n${(await appliance.run("healthcheck/health-check.sh")).output}\n${output.join("").slice(-3000)}`);
    });
    appliance.bootMs = performance.now() - spawnedAt;
    return appliance;
  }

  get base(): string {
    return `http://127.0.0.1:${this.env.PORT}`;
  }

  /**
   * A script of the package (or at an absolute path) with this appliance's environment. Asynchronous, so that servers
   * in the test process (a signature server for freshclam) can answer meanwhile.
   */
  run(script: string, args: readonly string[] = []): Promise<CommandResult> {
    return this.bash([path.resolve(ROOT, script), ...args]);
  }

  /** `scan-daemon ARGS` as an operator runs it beside the appliance (the built bin, same environment). */
  cli(args: readonly string[]): Promise<CommandResult> {
    return this.bash(["-c", `source "${ROOT}/scripts/appliance-env.sh" && exec node "${ROOT}/dist/app/scan-daemon.js" "$@"`, "_", ...args]);
  }

  /** The end of each of the app's own logs, for a failure's message: what a program said before it stopped. */
  async appLogs(bytes = 3000): Promise<string> {
    const logs = ["supervisor/supervisord.log", "supervisor/scan-worker.err.log", "supervisor/scan-intake.err.log", "scan-daemon.log"];
    const tails = await Promise.all(logs.map(async (log) => `--- ${log}\n${(await readFile(path.join(this.home, "logs", log), "utf8").catch((err: Error) => err.message)).slice(-bytes)}`));
    return tails.join("\n");
  }

  /** A new API key through `scan-daemon keys create`, as an operator makes one. */
  async key(user: string, tier: string, ...flags: string[]): Promise<{ id: string; key: string }> {
    const created = await this.cli(["keys", "create", "--user", user, "--tier", tier, ...flags]);
    const id = /^created (\S+)/m.exec(created.output)?.[1];
    // By its shape, not as the last line: a shell on the way may add lines of its own (pyenv's rehash warnings did, now and then).
    const key = /^msd_[A-Za-z0-9_-]+$/m.exec(created.output)?.[0];
    if (created.status !== 0 || !id || !key) throw new Error(`keys create failed: ${created.output}`);
    return { id, key };
  }

  /** supervisord's view: program name → state. */
  async programs(): Promise<Record<string, string>> {
    const lines = (await this.run("scripts/appliance-ctl.sh", ["status"])).output.trim().split("\n");
    return Object.fromEntries(lines.map((l) => l.trim().split(/\s+/)).map(([name, state]) => [name!, state!]));
  }

  async pid(program: string): Promise<number> {
    return Number((await this.run("scripts/appliance-ctl.sh", ["pid", program])).output.trim());
  }

  /** The app's two programs: the intake (API) and the scan worker. */
  async appPids(): Promise<{ intake: number; worker: number }> {
    return { intake: await this.pid("scan-daemon:intake"), worker: await this.pid("scan-daemon:worker") };
  }

  /**
   * `--norc`: `bash -c` whose stdin is a socket (Node's pipes are) and that no shell started
   * (this environment has no SHLVL) takes itself for an ssh command and runs ~/.bashrc, where
   * `pyenv init` has held a bench's key creation past the timeout.
   */
  private bash(args: readonly string[]): Promise<CommandResult> {
    return new Promise((resolve) => {
      execFile("bash", ["--norc", ...args], { env: this.env, encoding: "utf8", timeout: 90_000 }, (err, stdout, stderr) => {
        const status = err ? (typeof err.code === "number" ? err.code : -1) : 0;
        resolve({ status, output: `${stdout}${stderr}` });
      });
    });
  }

  /** SIGTERM to the appliance, as Ctrl-C or `docker stop` would: every program stops. */
  async stop(): Promise<string> {
    const child = this.child;
    this.child = null;
    await terminate(child, "SIGTERM", 90_000);
    return this.output.join("");
  }

  /** Stops the appliance and removes its home, unless MSD_KEEP_APPLIANCE_HOMES is set (spreadFolder says why a bench may want that). */
  async destroy(): Promise<void> {
    await this.stop();
    if (!process.env.MSD_KEEP_APPLIANCE_HOMES) await rm(this.home, { recursive: true, force: true });
  }
}

/**
 * The appliance runs the build, as the image does: this run's sources, not a stale dist/. Only
 * when a source is newer than the build, though: the suite runs two test files at once, and a
 * build rewrites dist/ under an appliance that runs from it (a worker that supervisord restarted
 * just then read a module half written, and Node failed an internal assertion loading it).
 */
function buildIfStale(): void {
  const sources = readdirSync(path.join(ROOT, "app"), { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts"));
  const builtAt = (source: string) => {
    const built = path.join(ROOT, "dist", "app", source.replace(/\.ts$/, ".js"));
    return existsSync(built) ? statSync(built).mtimeMs : 0;
  };
  const newestSource = Math.max(statSync(path.join(ROOT, "tsconfig.build.json")).mtimeMs, ...sources.map((f) => statSync(path.join(ROOT, "app", f)).mtimeMs));
  if (newestSource < Math.min(...sources.map(builtAt))) return;
  const build = spawnSync("npm", ["run", "build"], { cwd: ROOT, encoding: "utf8" });
  if (build.status !== 0) throw new Error(`npm run build failed: ${build.stdout}${build.stderr}`);
}

/**
 * Makes `dir` (if need be) and asks ext4 to spread the folders made in it over block groups of
 * their own (the TOPDIR flag, `chattr +T`; a no-op on other filesystems). On ext4 without a
 * journal, as on the machines this project runs on, creating a file skips every inode of its
 * block group freed in the last minutes (fs/ext4/ialloc.c, recently_deleted): a home placed
 * where an earlier run's thousands of files were just removed paid some 0.4 ms for each file it
 * created, and the app paid for its clamd's temporary files, made and removed for every scan in
 * the folder beside its own. Spread, the data, run and log folders of a home lie apart, as the
 * image's separate trees do. Homes in turn do not: ext4 puts a new top folder in the flex group
 * with the fewest folders, which removing a home makes the one it was in, so a run that starts
 * within minutes of another's end creates its files among the inodes just freed (up to 0.25 ms of
 * CPU each: a sixth of the intake's CPU in one such run). Benches run back to back set
 * MSD_KEEP_APPLIANCE_HOMES and remove the homes afterwards.
 */
async function spreadFolder(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  spawnSync("chattr", ["+T", dir], { stdio: "ignore" });
  return dir;
}

