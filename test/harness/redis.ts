import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { freePort } from "./ports.ts";
import { startServer, terminate } from "./processes.ts";

const REDIS_SERVER = "/usr/bin/redis-server";

/**
 * A real redis-server from Debian's package on a free port, configured as production must be:
 * AOF on (fsync always here, so a restart test proves the log, not luck) and noeviction.
 */
export class RedisInstance {
  private child: ChildProcess | null = null;

  private constructor(
    readonly port: number,
    readonly dir: string,
    /** Set: the server requires it (`requirepass`), as a deployment's shared Redis does. */
    readonly password?: string,
  ) {}

  static async start(options: { password?: string } = {}): Promise<RedisInstance> {
    if (!existsSync(REDIS_SERVER)) throw new Error(`${REDIS_SERVER} is missing: install redis-server (.ci/run does)`);
    const instance = new RedisInstance(await freePort(), await mkdtemp(path.join(os.tmpdir(), "msd-redis-")), options.password);
    await instance.launch();
    return instance;
  }

  get url(): string {
    return `redis://${this.password ? `:${encodeURIComponent(this.password)}@` : ""}127.0.0.1:${this.port}`;
  }

  async launch(): Promise<void> {
    const args = [...(this.password ? ["--requirepass", this.password] : []), "--port", String(this.port), "--bind", "127.0.0.1", "--dir", this.dir, "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--maxmemory-policy", "noeviction", "--daemonize", "no", "--logfile", ""];
    this.child = await startServer(REDIS_SERVER, args, {}, () => ping(this.port, this.password), 20_000, 50);
  }

  /** SIGTERM: Redis flushes the AOF and exits, as `docker restart` or supervisord would stop it. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    await terminate(child);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  async destroy(): Promise<void> {
    const child = this.child;
    this.child = null;
    await terminate(child, "SIGKILL");
    await rm(this.dir, { recursive: true, force: true });
  }
}

function ping(port: number, password?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let reply = "";
    socket.setTimeout(1000, () => socket.destroy());
    socket.on("connect", () => socket.write(`${password ? `AUTH ${password}\r\n` : ""}PING\r\n`));
    socket.on("data", (d) => {
      reply += d.toString();
      if (reply.includes("PONG") || reply.startsWith("-")) socket.end();
    });
    socket.on("close", () => resolve(reply.includes("+PONG")));
    socket.on("error", () => resolve(false));
  });
}
