import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { chown, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { freePort } from "./ports.ts";
import { startServer, terminate } from "./processes.ts";

const VERSIONS_DIR = "/usr/lib/postgresql";

/** The newest PostgreSQL server Debian's `postgresql` package installed. */
function binDir(): string {
  const versions = existsSync(VERSIONS_DIR) ? readdirSync(VERSIONS_DIR).filter((v) => existsSync(path.join(VERSIONS_DIR, v, "bin/postgres"))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) throw new Error(`no PostgreSQL server under ${VERSIONS_DIR}: install postgresql (.ci/run does)`);
  return path.join(VERSIONS_DIR, newest, "bin");
}

/** PostgreSQL refuses to run as root: then the cluster belongs to Debian's postgres user. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const [uid, gid] = ["-u", "-g"].map((flag) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim()));
  return { uid: uid!, gid: gid! };
}

/**
 * A real PostgreSQL server from Debian's package: a cluster made by initdb in a temporary
 * folder, the server on a free port of 127.0.0.1 (trust authentication, fsync on), a database
 * per stack or scenario made by `database()`.
 */
export class PostgresInstance {
  private child: ChildProcess | null = null;

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly user: { uid: number; gid: number } | undefined,
  ) {}

  static async start(): Promise<PostgresInstance> {
    const user = serverUser();
    const dir = await mkdtemp(path.join(os.tmpdir(), "msd-postgres-"));
    if (user) await chown(dir, user.uid, user.gid);
    const cluster = path.join(dir, "cluster");
    await run(path.join(binDir(), "initdb"), ["-D", cluster, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions"], user);
    const instance = new PostgresInstance(await freePort(), dir, user);
    await instance.launch();
    return instance;
  }

  /** The URL of database `name`, made empty the first time it is asked for. */
  async database(name: string): Promise<string> {
    const admin = new pg.Client({ connectionString: this.url("postgres") });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    } catch (err) {
      if ((err as { code?: string }).code !== "42P04") throw err;
    } finally {
      await admin.end();
    }
    return this.url(name);
  }

  /** The postmaster's pid (its server processes are its children). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  url(database: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${encodeURIComponent(database)}`;
  }

  async launch(): Promise<void> {
    const args = ["-D", path.join(this.dir, "cluster"), "-p", String(this.port), "-k", this.dir, "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300"];
    this.child = await startServer(path.join(binDir(), "postgres"), args, { ...this.user }, () => this.accepts(), 30_000, 100);
  }

  /** SIGINT: PostgreSQL's fast shutdown, which ends every session, as a restart by an operator would. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    await terminate(child, "SIGINT");
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  /** SIGQUIT: immediate shutdown, which also ends the server's own processes (SIGKILL would orphan them). */
  async destroy(): Promise<void> {
    const child = this.child;
    this.child = null;
    await terminate(child, "SIGQUIT");
    await rm(this.dir, { recursive: true, force: true });
  }

  private async accepts(): Promise<boolean> {
    const client = new pg.Client({ connectionString: this.url("postgres"), connectionTimeoutMillis: 1000 });
    try {
      await client.connect();
      await client.query("SELECT 1");
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

function run(command: string, args: string[], user: { uid: number; gid: number } | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], ...user });
    let output = "";
    child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(command)} exited with ${code}: ${output}`))));
  });
}
