import { createBullBoard } from "@bull-board/api";
import { KoaAdapter } from "@bull-board/koa";
import type { Middleware } from "koa";
import type { ScanQueue } from "../queue/scan-queue.ts";
import type { ScanJobData } from "../store/scan-repo.ts";

export const QUEUE_BOARD_PATH = "/admin/queues";

/**
 * bull-board's queue UI for the scan queue, mounted behind the admin check. Read-only: its
 * retry, clean, remove and add would bypass the audit trail (re-drive failed jobs with the
 * audited `scan-daemon queue retry`). Jobs show their tier, scan type and follow-up count, not
 * whose file they scan: a tenant's file ids are read through the audited API only.
 */
export function queueBoard(board: ReturnType<ScanQueue["boardAdapter"]>): Middleware {
  const adapter = new KoaAdapter();
  adapter.setBasePath(QUEUE_BOARD_PATH);
  board.setFormatter("data", (data: Partial<ScanJobData>) => ({ tier: data.tier, scanType: data.scanType, followUps: data.followUps ?? 0 }));
  createBullBoard({ queues: [board], serverAdapter: adapter });
  return adapter.registerPlugin() as Middleware;
}
