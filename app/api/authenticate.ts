import type { Middleware } from "koa";
import { bearerToken, type ApiKeys } from "../auth/api-keys.ts";
import { ApiError } from "./api-error.ts";
import type { ApiState } from "./api-state.ts";
import { routeOf } from "./error-middleware.ts";

/** Runs before any body is read, so that an upload is limited by its sender's tier while it streams. */
export function authenticate(keys: ApiKeys): Middleware<ApiState> {
  return async (ctx, next) => {
    const route = `${ctx.method} ${routeOf(ctx)}`;
    ctx.state.principal = await keys.authenticate(bearerToken(ctx.get("authorization")), { ip: ctx.ip, route });
    await next();
  };
}

export const requireAdmin: Middleware<ApiState> = async (ctx, next) => {
  if (ctx.state.principal.role !== "admin") throw new ApiError(403, "FORBIDDEN", "this route needs an admin key");
  await next();
};
