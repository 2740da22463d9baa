import net from "node:net";

export type Misbehaviour = "silent" | "garbage" | "null-found" | "ok-then-found" | "reset" | "stopping" | "ok-then-mute" | "misnumbered" | "two-replies";

/** Each misbehaviour and the engine error code the client must turn it into. */
export const MISBEHAVIOURS: readonly (readonly [Misbehaviour, string])[] = [
  ["silent", "ENGINE_TIMEOUT"],
  ["garbage", "ENGINE_PROTOCOL"],
  ["null-found", "ENGINE_PROTOCOL"],
  ["ok-then-found", "ENGINE_PROTOCOL"],
  ["reset", "ENGINE_FAILED"],
];

/** Misbehaviours of the IDSESSION protocol (SCAN goes over a session; INSTREAM does not). */
export const SESSION_MISBEHAVIOURS: readonly (readonly [Misbehaviour, string])[] = [
  ["misnumbered", "ENGINE_PROTOCOL"],
  ["two-replies", "ENGINE_PROTOCOL"],
];

/** The reply to a scan of `name` ("stream" for INSTREAM, the path for SCAN). */
const REPLIES: Partial<Record<Misbehaviour, (name: string) => string>> = {
  garbage: () => "HELLO THERE\0",
  "null-found": (name) => `${name}: (null) FOUND\0`,
  "ok-then-found": (name) => `${name}: OK\n${name}: Eicar FOUND\0`,
  // What a real clamd that is stopping answers to a SCAN it skipped; it then takes no more connections.
  stopping: (name) => `${name}: OK\0`,
  // OK to a SCAN, then every later connection taken and never answered (a clamd hung as it stops).
  "ok-then-mute": (name) => `${name}: OK\0`,
  misnumbered: (name) => `${name}: OK\0`,
  "two-replies": (name) => `${name}: OK\0`,
};

const SESSION = "zIDSESSION\0";

/**
 * A TCP peer that misbehaves the way a broken or hostile clamd could, to prove the client
 * fails closed. It stands in for no engine: every clean verdict in the suite comes from real clamd.
 */
export async function startBrokenClamd(mode: Misbehaviour): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  // allowHalfOpen: a hung clamd keeps the connection open after the client has sent everything.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    let received = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (mode === "silent") return;
      if (mode === "reset") return socket.resetAndDestroy();
      // Answer once the INSTREAM terminator (a zero-length chunk), a whole SCAN or a VERSION
      // command has arrived; in a session (which ends after its first answer here) numbered 1.
      const whole = received.toString("latin1");
      const inSession = whole.startsWith(SESSION);
      const text = inSession ? whole.slice(SESSION.length) : whole;
      const tag = inSession ? (mode === "misnumbered" ? "2: " : "1: ") : "";
      if (text.startsWith("zVERSION\0")) return socket.end(`${tag}ClamAV 1.4.6/1/Thu Jan  1 00:00:00 1970\0`);
      const scanned = /^zSCAN ([^\0]*)\0/.exec(text)?.[1] ?? (text.startsWith("zINSTREAM\0") && received.subarray(-4).equals(Buffer.alloc(4)) ? "stream" : undefined);
      if (scanned === undefined) return;
      const reply = tag + (REPLIES[mode]?.(scanned) ?? "");
      socket.end(mode === "two-replies" ? `${reply}${tag}${scanned}: Eicar FOUND\0` : reply);
      if (mode === "stopping") {
        // A clamd that stops closes every connection and takes no new one.
        server.close();
        for (const other of sockets) if (other !== socket) other.destroy();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
