import type Router from "@koa/router";
import Koa, { type Middleware } from "koa";
import type { MedicalFileScanDaemon } from "../daemon.ts";
import type { Logger } from "../log.ts";
import type { ScanMetrics } from "../events/scan-metrics.ts";
import { adminRoutes } from "./admin-routes.ts";
import { consoleRoutes } from "./console-routes.ts";
import type { ApiState } from "./api-state.ts";
import { authenticate, requireAdmin } from "./authenticate.ts";
import { errorMiddleware } from "./error-middleware.ts";
import { fileRoutes } from "./file-routes.ts";
import { healthRoutes } from "./health-routes.ts";
import { OPENAPI_DOCUMENT } from "./openapi.ts";
import { queueBoard, QUEUE_BOARD_PATH } from "./queue-board.ts";

export interface Api {
  readonly app: Koa<ApiState>;
  /** Every router of the API, for the test that holds them against the OpenAPI document. */
  readonly routers: readonly Router<ApiState>[];
}

/** The Koa app of docs/api.md: one error middleware first, then the routers. */
export function createApi(daemon: MedicalFileScanDaemon, metrics: ScanMetrics, log: Logger): Api {
  const app = new Koa<ApiState>({ proxy: false });
  // Koa prints unhandled errors itself; the error middleware already logged what matters.
  app.silent = true;
  const auth = authenticate(daemon.keys);

  const open = healthRoutes(daemon, metrics);
  open.get("/api/openapi.json", (ctx) => {
    ctx.body = OPENAPI_DOCUMENT;
  });
  const files = fileRoutes(daemon, auth);
  const admin = adminRoutes(daemon, auth);

  app.use(errorMiddleware(log));
  app.use(securityHeaders);
  const board = queueBoard(daemon.queueBoardAdapter());
  app.use(prefixed(QUEUE_BOARD_PATH, (ctx, next) => auth(ctx, () => requireAdmin(ctx, () => board(ctx, next)))));
  for (const router of [open, files, admin, consoleRoutes()]) app.use(router.routes()).use(router.allowedMethods({ throw: true }));
  return { app, routers: [open, files, admin] };
}

const securityHeaders: Middleware = async (ctx, next) => {
  ctx.set("X-Content-Type-Options", "nosniff");
  ctx.set("Cache-Control", "no-store");
  await next();
};

function prefixed(prefix: string, middleware: Middleware<ApiState>): Middleware<ApiState> {
  return (ctx, next) => (ctx.path === prefix || ctx.path.startsWith(`${prefix}/`) ? middleware(ctx, next) : next());
}
