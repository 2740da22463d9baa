import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ClamdClient } from "../../app/clamd/clamd-client.ts";
import { eicar } from "../fixtures/eicar.ts";
import { freePort } from "./ports.ts";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const CLAMD_CONF = path.join(ROOT, "docker/clamav/clamd.conf");
export const TESTFILES_DIR = "/usr/share/clamav-testfiles";
export const CLAM_EXE = path.join(TESTFILES_DIR, "clam.exe");

const OVERRIDDEN = ["TCPSocket", "TCPAddr", "DatabaseDirectory", "TemporaryDirectory", "LogFile", "PidFile", "User", "LocalSocket"];

/** A real clamd from Debian's clamav-daemon, on a free port, running docker/clamav/clamd.conf. */
export class ClamdInstance {
  private child: ChildProcess | null = null;

  private constructor(
    readonly port: number,
    readonly home: string,
    readonly dbDir: string,
    readonly confPath: string,
  ) {}

  static async start(): Promise<ClamdInstance> {
    for (const bin of ["/usr/sbin/clamd", "/usr/bin/sigtool"]) {
      if (!existsSync(bin)) throw new Error(`${bin} is missing: install clamav-daemon and clamav (.ci/run does)`);
    }
    if (!existsSync(CLAM_EXE)) throw new Error(`${CLAM_EXE} is missing: install clamav-testfiles`);
    const home = await mkdtemp(path.join(os.tmpdir(), "msd-clamd-"));
    const dbDir = path.join(home, "db");
    await mkdir(dbDir);
    await writeTestDatabase(dbDir);
    const port = await freePort();
    const conf = (await readFile(CLAMD_CONF, "utf8"))
      .split("\n")
      .filter((line) => !OVERRIDDEN.includes(line.split(/\s+/)[0]!))
      .concat([
        `TCPSocket ${port}`,
        "TCPAddr 127.0.0.1",
        `DatabaseDirectory ${dbDir}`,
        `TemporaryDirectory ${home}`,
        `LogFile ${path.join(home, "clamd.log")}`,
        `PidFile ${path.join(home, "clamd.pid")}`,
      ])
      .join("\n");
    const confPath = path.join(home, "clamd.conf");
    await writeFile(confPath, conf);
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
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (child.exitCode === null) child.kill("SIGKILL");
  }

  env(): Record<string, string> {
    return { CLAMAV_HOST: "127.0.0.1", CLAMAV_PORT: String(this.port), CLAMAV_DB_DIR: this.dbDir };
  }

  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.home, { recursive: true, force: true });
  }
}

/** The documented test signature set: clam.exe by MD5 (every clamav-testfiles wrapper unpacks to it) and EICAR. */
export async function writeTestDatabase(dbDir: string): Promise<void> {
  const hdb = execFileSync("/usr/bin/sigtool", ["--md5", CLAM_EXE], { encoding: "utf8" });
  await writeFile(path.join(dbDir, "test-clam.hdb"), hdb);
  await writeFile(path.join(dbDir, "test-eicar.ndb"), `Test.EICAR:0:*:${eicar().toString("hex")}\n`);
}
