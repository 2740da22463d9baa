import { createBullBoard } from "@bull-board/api";
import { BullAdapter } from "@bull-board/api/bullAdapter";
import { KoaAdapter } from "@bull-board/koa";
import type { Middleware } from "koa";
import type { ScanQueue } from "../queue/scan-queue.ts";

export const QUEUE_BOARD_PATH = "/admin/queues";

/** bull-board's queue UI (jobs, failed list, retries) for the scan queue; mounted behind the admin check. */
export function queueBoard(queue: ScanQueue["bull"]): Middleware {
  const adapter = new KoaAdapter();
  adapter.setBasePath(QUEUE_BOARD_PATH);
  createBullBoard({ queues: [new BullAdapter(queue)], serverAdapter: adapter });
  return adapter.registerPlugin() as Middleware;
}
