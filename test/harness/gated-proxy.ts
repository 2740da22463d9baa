import net from "node:net";

const EMPTY = Buffer.alloc(0);

/**
 * A TCP relay to a real clamd that can hold scans (INSTREAM, SCAN) at the door: commands such as
 * VERSION pass, a scan waits (its bytes unsent) until the gate opens. It lets a test catch a
 * worker mid-scan. It reads the client's commands one by one, so a scan inside an IDSESSION is
 * held as well as one on a connection of its own. It never answers for clamd.
 */
export class GatedProxy {
  private open = true;
  private dropNextReuse = false;
  private readonly parked: (() => void)[] = [];
  private readonly sockets = new Set<net.Socket>();
  held = 0;
  /** Connections clients opened to it. */
  connections = 0;
  /** The first word of every command passed on (zVERSION, zINSTREAM, zSCAN, zPING...), IDSESSION and END left out. */
  readonly commands: string[] = [];

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<GatedProxy> {
    // Half-open: the client ends its side after the stream and still waits for clamd's reply.
    const server = net.createServer({ allowHalfOpen: true });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const proxy = new GatedProxy(server, (server.address() as net.AddressInfo).port);
    server.on("connection", (client) => proxy.relay(client, targetPort));
    return proxy;
  }

  close(): void {
    this.open = true;
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }

  hold(): void {
    this.open = false;
  }

  release(): void {
    this.open = true;
    for (const go of this.parked.splice(0)) go();
  }

  /** The next command sent on a connection that already carried one ends that connection unanswered, as clamd ending an idle session would. */
  dropNextReusedSession(): void {
    this.dropNextReuse = true;
  }

  private relay(client: net.Socket, targetPort: number): void {
    this.connections++;
    const upstream = net.connect({ port: targetPort, host: "127.0.0.1", allowHalfOpen: true });
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      socket.on("error", () => (client.destroy(), upstream.destroy()));
    }
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    upstream.pipe(client);

    let unsent = EMPTY;
    let streaming = false;
    let waiting = false;
    /** The scan at the front was held and the gate has since opened. */
    let released = false;
    let ended = false;
    let carried = 0;
    const pump = () => {
      while (!waiting && unsent.length > 0) {
        if (streaming) {
          upstream.write(unsent);
          unsent = EMPTY;
          break;
        }
        const end = unsent.indexOf(0);
        if (end < 0) break;
        const command = unsent.subarray(0, end + 1);
        const word = /^z[A-Z]+/.exec(command.toString("latin1"))?.[0] ?? "?";
        const framing = word === "zIDSESSION" || word === "zEND";
        if (!framing && carried > 0 && this.dropNextReuse) {
          this.dropNextReuse = false;
          client.destroy();
          return;
        }
        if (!this.open && !released && (word === "zSCAN" || word === "zINSTREAM")) {
          waiting = true;
          this.held++;
          this.parked.push(() => {
            waiting = false;
            released = true;
            pump();
          });
          return;
        }
        released = false;
        if (!framing) {
          this.commands.push(word);
          carried++;
        }
        upstream.write(command);
        if (word === "zINSTREAM") streaming = true;
        unsent = unsent.subarray(end + 1);
      }
      if (ended && !waiting && unsent.length === 0) upstream.end();
    };
    client.on("data", (chunk: Buffer) => {
      unsent = Buffer.concat([unsent, chunk]);
      pump();
    });
    client.on("end", () => {
      ended = true;
      pump();
    });
  }
}
