import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import Router from "@koa/router";
import type { Middleware } from "koa";
import { packageRoot } from "../package-root.ts";
import type { ApiState } from "./api-state.ts";
import { ApiError } from "./api-error.ts";

export const CONSOLE_DIR = path.join(packageRoot, "ui");

const TYPES: Readonly<Record<string, string>> = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml" };

/**
 * Only this page's own scripts and styles, no inline script or style, no frames, no plugins;
 * requests go to this origin only (its WebSocket included).
 */
export const CONSOLE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * The web console at /ui: static files read once when the API is made (a fixed set, so no path
 * from a request ever reaches the filesystem), under a strict Content-Security-Policy. The page holds
 * no data; everything it shows comes from the API with the key the user signs in with.
 */
export function consoleRoutes(dir = CONSOLE_DIR): Router<ApiState> {
  const files = new Map<string, { type: string; body: Buffer }>();
  for (const name of readdirSync(dir)) {
    const type = TYPES[path.extname(name)];
    if (type) files.set(name, { type, body: readFileSync(path.join(dir, name)) });
  }
  const router = new Router<ApiState>();
  const serve = (name: string): Middleware<ApiState> => (ctx) => {
    const file = files.get(name);
    if (!file) throw new ApiError(404, "NOT_FOUND", "no such page");
    ctx.set("Content-Security-Policy", CONSOLE_CSP);
    ctx.set("Referrer-Policy", "no-referrer");
    ctx.set("X-Frame-Options", "DENY");
    ctx.type = file.type;
    ctx.body = file.body;
  };
  // The router matches /ui and /ui/ alike: only the first is sent on, so relative links resolve under /ui/.
  router.get("/ui", (ctx, next) => {
    if (ctx.path.endsWith("/")) return serve("index.html")(ctx, next);
    ctx.status = 301;
    ctx.redirect("/ui/");
  });
  router.get("/ui/:name", (ctx, next) => serve(ctx.params.name!)(ctx, next));
  return router;
}
