import type { Logger } from "../log.ts";
import type { ScanResult } from "../verdict/scan-result.ts";
import type { RedisConnection } from "../store/redis-connection.ts";
import type { StatsSnapshot } from "./live-stats.ts";

/**
 * The messages of docs/api.md, plus the owner's id, by which the WebSocket hub
 * decides who may see them. `fileName` goes only to the file's owner.
 */
export type ScanEvent =
  | { readonly type: "scan_progress"; readonly jobId: string; readonly fileId: string; readonly userId: string; readonly progress: number }
  | { readonly type: "scan_result"; readonly jobId: string; readonly fileId: string; readonly userId: string; readonly fileName: string; readonly result: ScanResult }
  | { readonly type: "stats"; readonly data: StatsSnapshot };

export type ScanEventListener = (event: ScanEvent) => void;

/**
 * Redis publish/subscribe, so that an event raised by a worker in one process reaches every
 * process that serves WebSockets (and, in a process that both scans and serves, its own
 * listeners, through the same path).
 */
export class EventBus {
  private readonly listeners = new Set<ScanEventListener>();

  private constructor(
    private readonly publisher: RedisConnection,
    private readonly subscriber: RedisConnection | undefined,
    private readonly channel: string,
  ) {}

  /**
   * `listen: false` for a process that only sends (a scan worker): it neither subscribes nor
   * receives, so each verdict is not also parsed where nothing listens for it.
   */
  static async create(publisher: RedisConnection, prefix: string, log: Logger, listen = true): Promise<EventBus> {
    const channel = `${prefix}:events`;
    if (!listen) return new EventBus(publisher, undefined, channel);
    const subscriber = publisher.duplicate();
    subscriber.on("error", (err: Error) => log.debug({ err: err.message }, "redis subscriber error"));
    await subscriber.connect();
    const bus = new EventBus(publisher, subscriber, channel);
    await subscriber.subscribe(channel, (message) => bus.dispatch(message, log));
    return bus;
  }

  async publish(event: ScanEvent): Promise<void> {
    await this.publisher.publish(this.channel, JSON.stringify(event));
  }

  on(listener: ScanEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await this.subscriber?.close();
  }

  private dispatch(message: string, log: Logger): void {
    const event = JSON.parse(message) as ScanEvent;
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        log.error({ err, type: event.type }, "event listener failed");
      }
    }
  }
}
