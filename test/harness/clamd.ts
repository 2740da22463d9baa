import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ClamdClient } from "../../app/engines/clamav/clamd-client.ts";
import { freePort } from "./ports.ts";
import { terminate } from "./processes.ts";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const TESTFILES_DIR = "/usr/share/clamav-testfiles";
export const CLAM_EXE = path.join(TESTFILES_DIR, "clam.exe");

/** A real clamd from Debian's clamav-daemon, on a free port, running docker/clamav/clamd.conf. */
export class ClamdInstance {
  private child: ChildProcess | null = null;

  private constructor(
    readonly port: number,
    readonly home: string,
    readonly dbDir: string,
    readonly confPath: string,
  ) {}

  /** `user`: clamd drops to this user, as in the image (this process must be root). */
  static async start(options: { user?: string } = {}): Promise<ClamdInstance> {
    for (const bin of ["/usr/sbin/clamd", "/usr/bin/sigtool"]) {
      if (!existsSync(bin)) throw new Error(`${bin} is missing: install clamav-daemon and clamav (.ci/run does)`);
    }
    if (!existsSync(CLAM_EXE)) throw new Error(`${CLAM_EXE} is missing: install clamav-testfiles`);
    const home = await mkdtemp(path.join(os.tmpdir(), "msd-clamd-"));
    const dbDir = path.join(home, "db");
    execFileSync("bash", [path.join(ROOT, "scripts/make-test-definitions.sh"), dbDir]);
    const port = await freePort();
    const confPath = path.join(home, "clamd.conf");
    await writeFile(confPath, execFileSync("bash", [path.join(ROOT, "scripts/render-clamd-conf.sh"), String(port), dbDir, home]) + (options.user ? `User ${options.user}\n` : ""));
    if (options.user) execFileSync("chown", ["-R", options.user, home]);
    const instance = new ClamdInstance(port, home, dbDir, confPath);
    await instance.launch();
    return instance;
  }

  async launch(): Promise<void> {
    const child = spawn("/usr/sbin/clamd", ["-c", this.confPath], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    this.child = child;
    const client = new ClamdClient({ host: "127.0.0.1", port: this.port, timeoutMs: 2000 });
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`clamd exited with ${child.exitCode}: ${stderr}`);
      const pong = await client.command("PING", AbortSignal.timeout(2000)).catch(() => "");
      if (pong.startsWith("PONG")) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`clamd did not answer PING within 60 s: ${stderr}`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    await terminate(child);
  }

  env(): Record<string, string> {
    return { CLAMAV_HOST: "127.0.0.1", CLAMAV_PORT: String(this.port) };
  }

  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.home, { recursive: true, force: true });
  }
}
