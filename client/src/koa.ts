import type { Middleware } from "koa";
import { scanUpload, type GateOptions, type IncomingFile, type ScannedFile } from "./gate.ts";

/** The file objects koa-body (formidable) leaves in `ctx.request.files`. */
interface FormidableFile {
  readonly filepath: string;
  readonly originalFilename?: string | null;
  readonly newFilename?: string;
}

declare module "koa" {
  interface DefaultState {
    /** Set by the scan gate: every file of the upload with its clean verdict. */
    scannedFiles?: ScannedFile[];
  }
}

/**
 * Koa middleware for after koa-body (`multipart: true`): scans every file in
 * `ctx.request.files` before the next middleware runs. Clean: `ctx.state.scannedFiles` holds
 * each file with its verdict. Otherwise the answer is 422 FILE_REJECTED or 503
 * SCAN_UNAVAILABLE, the files are removed and the next middleware never runs.
 */
export function koaScanGate(options: GateOptions): Middleware {
  return async (ctx, next) => {
    const files = Object.entries((ctx.request as { files?: Record<string, FormidableFile | FormidableFile[]> }).files ?? {}).flatMap(([field, value]) =>
      (Array.isArray(value) ? value : [value]).map((f): IncomingFile => ({ field, name: f.originalFilename || f.newFilename || "upload", path: f.filepath })),
    );
    const outcome = await scanUpload(files, options);
    if ("refused" in outcome) {
      ctx.status = outcome.refused.status;
      ctx.set(outcome.refused.headers);
      ctx.body = outcome.refused.body;
      return;
    }
    ctx.state.scannedFiles = outcome.passed;
    await next();
  };
}
