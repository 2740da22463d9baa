import Router from "@koa/router";
import type { Middleware } from "koa";
import type { MedicalFileScanDaemon } from "../daemon.ts";
import type { QuarantineEntry } from "../store/quarantine-repo.ts";
import type { ApiState } from "./api-state.ts";
import { requireAdmin } from "./authenticate.ts";

/** Quarantine administration, admin keys only; every action is audited under the admin's user id. */
export function adminRoutes(daemon: Pick<MedicalFileScanDaemon, "quarantine">, auth: Middleware<ApiState>): Router<ApiState> {
  const router = new Router<ApiState>({ prefix: "/api/admin" });
  router.use(auth, requireAdmin);

  router.get("/quarantine", async (ctx) => {
    const state = ctx.query.state === "released" || ctx.query.state === "deleted" ? ctx.query.state : "held";
    ctx.body = { entries: (await daemon.quarantine.list(state)).map(entryBody) };
  });

  router.post("/quarantine/:id/release", async (ctx) => {
    const entry = await daemon.quarantine.release(ctx.params.id!, ctx.state.principal.userId);
    ctx.body = { ...entryBody(entry), state: "released" };
  });

  router.delete("/quarantine/:id", async (ctx) => {
    const entry = await daemon.quarantine.delete(ctx.params.id!, ctx.state.principal.userId);
    ctx.body = { ...entryBody(entry), state: "deleted" };
  });

  return router;
}

/** Everything but the vault path: where quarantined bytes lie is not the client's business. */
function entryBody(e: QuarantineEntry) {
  return { id: e.id, fileId: e.fileId, scanId: e.scanId, sha256: e.sha256, size: e.size, verdict: e.verdict, threatLevel: e.threatLevel, encrypted: e.encrypted, state: e.state, createdAt: e.createdAt, closedAt: e.closedAt, closedBy: e.closedBy };
}
