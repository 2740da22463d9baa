import { readFileSync } from "node:fs";
import net from "node:net";

/**
 * Below the kernel's ephemeral range: a server stopped and started again by a test (Redis,
 * clamd, the app) keeps its port, and an outgoing connection's source port, taken from that
 * range, could otherwise grab it in between (seen: a restarted intake failing with a spawn
 * error, a Redis "stopped" while something else still answered on its port).
 */
const EPHEMERAL_LOW = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
const RANGE = { low: 20_000, high: EPHEMERAL_LOW - 1 };
const handedOut = new Set<number>();

function listenable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago and is outside the ephemeral range. */
export async function freePort(): Promise<number> {
  if (!(RANGE.high - RANGE.low > 1000)) return listenOnAny();
  for (let tries = 0; tries < 200; tries++) {
    const port = RANGE.low + Math.floor(Math.random() * (RANGE.high - RANGE.low + 1));
    if (handedOut.has(port) || !(await listenable(port))) continue;
    handedOut.add(port);
    return port;
  }
  return listenOnAny();
}

function listenOnAny(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
