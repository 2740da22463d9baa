import net from "node:net";

/**
 * A TCP relay to a real clamd that can hold scans (INSTREAM, SCAN) at the door: commands such as
 * VERSION pass, a scan waits (its bytes unread) until the gate opens. It lets a test catch a
 * worker mid-scan. It never answers for clamd.
 */
export class GatedProxy {
  private open = true;
  private readonly parked: (() => void)[] = [];
  private readonly sockets = new Set<net.Socket>();
  held = 0;
  /** The first word of every connection's first command (zVERSION, zINSTREAM, zSCAN, zPING...). */
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

  private relay(client: net.Socket, targetPort: number): void {
    this.sockets.add(client);
    client.on("close", () => this.sockets.delete(client));
    client.on("error", () => client.destroy());
    client.once("data", (first) => {
      client.pause();
      this.commands.push(/^[A-Za-z]+/.exec(first.toString("latin1"))?.[0] ?? "?");
      const go = () => {
        const upstream = net.connect({ port: targetPort, host: "127.0.0.1", allowHalfOpen: true }, () => {
          upstream.write(first);
          client.pipe(upstream).pipe(client);
          client.resume();
        });
        this.sockets.add(upstream);
        upstream.on("close", () => (this.sockets.delete(upstream), client.destroy()));
        upstream.on("error", () => client.destroy());
        client.on("close", () => upstream.destroy());
      };
      if (this.open || !/^z(INSTREAM|SCAN )/.test(first.toString("latin1"))) return go();
      this.held++;
      this.parked.push(go);
    });
  }
}
