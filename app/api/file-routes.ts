import Router from "@koa/router";
import type { Middleware } from "koa";
import type { MedicalFileScanDaemon } from "../daemon.ts";
import type { ScanRecord } from "../store/scan-repo.ts";
import type { ApiState } from "./api-state.ts";
import { ApiError } from "./api-error.ts";
import { estimateSeconds } from "./estimate.ts";
import { uploadRoute, type UploadParts } from "./upload-route.ts";

/**
 * The tenant routes of docs/api.md. Every file route looks the file up with the
 * caller's user id, so another tenant's file is simply not found (404), never forbidden.
 */
/** What the file routes use of the daemon. */
export type FileRouteParts = Pick<MedicalFileScanDaemon, "queueCounts" | "listFiles" | "getFile" | "latestScan" | "getScans" | "download" | "rescan"> & UploadParts;

const MAX_PAGE = 100;

export function fileRoutes(daemon: FileRouteParts, auth: Middleware<ApiState>): Router<ApiState> {
  const router = new Router<ApiState>({ prefix: "/api/medical-files" });
  router.use(auth);

  router.post("/upload", uploadRoute(daemon));

  router.get("/scan-queue", async (ctx) => {
    const c = await daemon.queueCounts();
    ctx.body = { waiting: c.waiting, active: c.active, completed: c.completed, failed: c.failed, delayed: c.delayed };
  });

  router.get("/", async (ctx) => {
    const limit = ctx.query.limit === undefined ? 50 : Number(ctx.query.limit);
    if (!(Number.isInteger(limit) && limit >= 1 && limit <= MAX_PAGE)) throw new ApiError(400, "INVALID_REQUEST", `limit must be a whole number from 1 to ${MAX_PAGE}`);
    const after = ctx.query.after === undefined ? undefined : readCursor(ctx.query.after);
    const files = await daemon.listFiles(ctx.state.principal.userId, limit + 1, after);
    const page = files.slice(0, limit);
    const last = page.at(-1);
    ctx.body = {
      files: page.map((f) => ({ fileId: f.clientId, fileName: f.originalName, size: f.size, state: f.state, status: f.status ?? "queued", threatLevel: f.threatLevel, createdAt: f.createdAt })),
      next: files.length > limit && last ? Buffer.from(JSON.stringify([last.createdAt, last.id])).toString("base64url") : null,
    };
  });

  router.get("/:fileId", async (ctx) => {
    const file = await daemon.getFile(ctx.params.fileId!, ctx.state.principal.userId);
    const latest = await daemon.latestScan(file.id);
    ctx.body = {
      fileId: file.clientId,
      fileName: file.originalName,
      size: file.size,
      sha256: file.sha256,
      tier: file.tier,
      state: file.state,
      detectedType: file.detectedType,
      createdAt: file.createdAt,
      updatedAt: file.updatedAt,
      status: latest?.status ?? "queued",
      latestScan: latest ? scanBody(latest) : null,
    };
  });

  router.get("/:fileId/scans", async (ctx) => {
    const scans = await daemon.getScans(ctx.params.fileId!, ctx.state.principal.userId);
    ctx.body = { fileId: ctx.params.fileId!, scans: scans.map(scanBody) };
  });

  router.get("/:fileId/content", async (ctx) => {
    const { file, handle } = await daemon.download(ctx.params.fileId!, ctx.state.principal.userId);
    ctx.type = "application/octet-stream";
    ctx.length = file.size;
    ctx.attachment(file.originalName || file.clientId);
    ctx.set("X-Content-SHA256", file.sha256);
    ctx.set("X-Content-Type-Options", "nosniff");
    ctx.body = handle.createReadStream();
  });

  router.post("/:fileId/rescan", async (ctx) => {
    const { userId, tier } = ctx.state.principal;
    // Owner first (404), then the tier (403): another tenant's file is not even forbidden.
    const { fileId, jobId } = await daemon.rescan(ctx.params.fileId!, { userId, tier });
    ctx.status = 202;
    ctx.body = { message: "rescan queued", fileId, scanJobId: jobId, estimatedTime: await estimateSeconds(daemon) };
  });

  return router;
}

/** A scan as the contract shows it: the seed's column names. */
function scanBody(s: ScanRecord) {
  return { id: s.id, jobId: s.jobId, scan_type: s.scanType, status: s.status, threat_level: s.threatLevel, scan_engines: s.scanEngines, created_at: s.createdAt, results: s.results };
}

/** The opaque `next` of a previous page: the (created_at, id) of its last file. */
function readCursor(raw: unknown): { createdAt: string; id: string } {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(String(raw), "base64url").toString("utf8")) as unknown[];
    if (typeof createdAt === "string" && typeof id === "string") return { createdAt, id };
  } catch {
    // falls through to the 400
  }
  throw new ApiError(400, "INVALID_REQUEST", "after must be the next value of a previous page");
}
