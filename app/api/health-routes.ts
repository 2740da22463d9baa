import Router from "@koa/router";
import type { MedicalFileScanDaemon } from "../daemon.ts";
import type { ScanMetrics } from "../events/scan-metrics.ts";
import { cachedFor } from "../cached.ts";
import type { ApiState } from "./api-state.ts";

/** Readiness costs a SQLite write and two clamd connections: one round serves every probe of this long. */
const READINESS_CACHE_MS = 2000;

/** Unauthenticated: liveness, readiness with each dependency named, and Prometheus metrics. */
export function healthRoutes(daemon: Pick<MedicalFileScanDaemon, "readiness">, metrics: Pick<ScanMetrics, "contentType" | "text">): Router<ApiState> {
  const router = new Router<ApiState>();
  const started = Date.now();
  const readiness = cachedFor(READINESS_CACHE_MS, () => daemon.readiness());

  router.get("/health", (ctx) => {
    ctx.body = { status: "ok", uptimeSeconds: Math.round((Date.now() - started) / 1000) };
  });

  router.get("/health/ready", async (ctx) => {
    const { ready, checks } = await readiness();
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: ready ? "ready" : "not_ready", checks };
  });

  router.get("/metrics", async (ctx) => {
    ctx.type = metrics.contentType;
    ctx.body = await metrics.text();
  });

  return router;
}
