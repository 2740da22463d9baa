import type { NextFunction, Request, RequestHandler, Response } from "express";
import { scanUpload, type GateOptions, type IncomingFile, type ScannedFile } from "./gate.ts";

/** The file objects multer leaves in `req.file` / `req.files`: on disk (`path`) or in memory (`buffer`). */
interface MulterFile {
  readonly fieldname: string;
  readonly originalname: string;
  readonly path?: string;
  readonly buffer?: Buffer;
}

declare module "express-serve-static-core" {
  interface Request {
    /** Set by the scan gate: every file of the upload with its clean verdict. */
    scannedFiles?: ScannedFile[];
  }
}

/**
 * Express middleware for after multer (disk or memory storage): scans `req.file` and every
 * file in `req.files` before the next handler runs. Clean: `req.scannedFiles` holds each file
 * with its verdict. Otherwise the answer is 422 FILE_REJECTED or 503 SCAN_UNAVAILABLE, files
 * on disk are removed and the next handler never runs.
 */
export function expressScanGate(options: GateOptions): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const { file, files } = req as { file?: MulterFile; files?: MulterFile[] | Record<string, MulterFile[]> };
    const all = [...(file ? [file] : []), ...(Array.isArray(files) ? files : Object.values(files ?? {}).flat())];
    const incoming = all.map((f): IncomingFile => ({ field: f.fieldname, name: f.originalname || "upload", path: f.path, buffer: f.path ? undefined : f.buffer }));
    scanUpload(incoming, options).then((outcome) => {
      if ("refused" in outcome) {
        res.status(outcome.refused.status).set(outcome.refused.headers).json(outcome.refused.body);
        return;
      }
      req.scannedFiles = outcome.passed;
      next();
    }, next);
  };
}
