import { randomUUID } from "node:crypto";
import type { Middleware } from "koa";
import { AuthError } from "../errors/auth-error.ts";
import { ContentUnavailableError } from "../errors/content-unavailable-error.ts";
import { NotFoundError } from "../errors/not-found-error.ts";
import { QueueUnavailableError } from "../errors/queue-unavailable-error.ts";
import { StoreBusyError } from "../errors/store-busy-error.ts";
import { StoreUnavailableError } from "../errors/store-unavailable-error.ts";
import { SubmitRejectedError, type SubmitRejectedCode } from "../errors/submit-rejected-error.ts";
import type { Logger } from "../log.ts";
import { ApiError } from "./api-error.ts";
import type { ApiState } from "./api-state.ts";

const SUBMIT_STATUS: Readonly<Record<SubmitRejectedCode, number>> = {
  INVALID_REQUEST: 400,
  INVALID_FILE_NAME: 400,
  EMPTY_FILE: 400,
  FILE_TOO_LARGE: 413,
  DAILY_LIMIT: 429,
  INTEGRITY_MISMATCH: 422,
  DUPLICATE_FILE: 409,
  RESCAN_NOT_ALLOWED: 403,
};

const HTTP_CODES: Readonly<Record<number, string>> = { 400: "INVALID_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE", 501: "NOT_IMPLEMENTED" };

/** Every error becomes `{error:{code,message}}`; a 500 says nothing about its cause to the client. */
export function errorMiddleware(log: Logger): Middleware<ApiState> {
  return async (ctx, next) => {
    ctx.state.requestId = randomUUID();
    ctx.set("X-Request-Id", ctx.state.requestId);
    const started = performance.now();
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new ApiError(404, "NOT_FOUND", `no route ${ctx.method} ${ctx.path}`);
    } catch (err) {
      const mapped = toApiError(err);
      // A 503 is a dependency away (Redis, the database), said once per request, not a fault of this code.
      if (mapped.status === 503) log.warn({ requestId: ctx.state.requestId, route: routeOf(ctx), code: mapped.code, cause: errorCause(err) }, "request refused: a dependency is away");
      else if (mapped.status >= 500) log.error({ err, requestId: ctx.state.requestId, route: routeOf(ctx) }, "request failed");
      ctx.status = mapped.status;
      ctx.set(mapped.headers);
      ctx.body = { error: { code: mapped.code, message: mapped.message } };
    } finally {
      log.info({ requestId: ctx.state.requestId, method: ctx.method, route: routeOf(ctx), status: ctx.status, userId: ctx.state.principal?.userId, ms: Math.round(performance.now() - started) }, "request");
    }
  };
}

/** The route template, not the path: a path is whatever the client sent, and is not logged. */
export function routeOf(ctx: object): string {
  const matched = (ctx as { _matchedRoute?: string | RegExp })._matchedRoute;
  return matched ? String(matched) : "(no route)";
}

export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof AuthError) return new ApiError(401, err.code === "MISSING_API_KEY" ? err.code : "INVALID_API_KEY", err.message, { "WWW-Authenticate": 'Bearer realm="medical-scan-daemon"' });
  if (err instanceof SubmitRejectedError) {
    return new ApiError(SUBMIT_STATUS[err.code], err.code, err.message, err.retryAfterSeconds !== undefined ? { "Retry-After": String(err.retryAfterSeconds) } : {});
  }
  if (err instanceof NotFoundError) return new ApiError(404, err.code, err.message);
  if (err instanceof StoreBusyError) return new ApiError(503, err.code, err.message, { "Retry-After": "1" });
  if (err instanceof StoreUnavailableError || err instanceof QueueUnavailableError) return new ApiError(503, err.code, err.message, { "Retry-After": "5" });
  if (err instanceof ContentUnavailableError) return new ApiError(err.code === "FILE_EXPIRED" ? 410 : 409, err.code, err.message);
  const status = (err as { status?: unknown }).status;
  if (typeof status === "number" && status >= 400 && status < 500 && (err as { expose?: boolean }).expose) {
    return new ApiError(status, HTTP_CODES[status] ?? `HTTP_${status}`, (err as Error).message);
  }
  return new ApiError(500, "INTERNAL_ERROR", "internal error; the request id identifies it in the server log");
}

function errorCause(err: unknown): string | undefined {
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? `${cause.name}: ${cause.message}` : undefined;
}
