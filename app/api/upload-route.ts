import { rm } from "node:fs/promises";
import { Writable } from "node:stream";
import { finished } from "node:stream/promises";
import { errors, type File as UploadedFile } from "formidable";
import type { Context, Middleware } from "koa";
import { koaBody } from "koa-body";
import type { MedicalFileScanDaemon } from "../daemon.ts";
import { SubmitRejectedError } from "../errors/submit-rejected-error.ts";
import { DurableWriteStream } from "../intake/durable-fs.ts";
import { STORED_FILE_MODE } from "../intake/file-storage.ts";
import { scratchPath } from "../scan/scratch.ts";
import type { Tier, TierLimits } from "../verdict/tiers.ts";
import { ApiError } from "./api-error.ts";
import type { ApiState } from "./api-state.ts";
import { estimateSeconds, type EstimateParts } from "./estimate.ts";

/** Room for the multipart framing and the small fields around the file. */
const MULTIPART_ALLOWANCE = 64 * 1024;
const MAX_WAIT_SECONDS = 120;
/**
 * Bodies declared up to this size are hashed as they stream, which costs less than a trip to
 * the hash thread; larger or undeclared ones are hashed there once received, off this loop.
 */
const INLINE_HASH_BYTES = 1024 * 1024;
/** How long the rest of a refused body is read and dropped, so the client sees the answer before the connection closes. */
const LINGER_MS = 30_000;

const TOO_LARGE = new Set([errors.biggerThanMaxFileSize, errors.biggerThanTotalMaxFileSize]);
const TOO_MANY_PARTS = new Set([errors.maxFilesExceeded, errors.maxFieldsExceeded, errors.maxFieldsSizeExceeded]);

/**
 * POST /api/medical-files/upload. Runs after authentication, so the sender's tier is known
 * before a byte of the body is read: a declared length over the limit is refused unread, and
 * an undeclared one is cut off the moment it passes the limit. The body streams into a file
 * of its own under DATA_DIR/incoming (a scratch name, so a start after a crash sweeps it),
 * flushed on the way and synced before its stream finishes (DurableWriteStream: on disk by the
 * time the submission counts it, with no second open). A small body is hashed on the way
 * (formidable), a large one by the hash thread once received. Once received, the submission owns it: it moves it under the file's id
 * or removes it. Until then, whatever formidable wrote is removed here, once its stream is
 * closed: formidable opens a part's file even after it has failed the request (the second file
 * of a two-file body, a file after one field too many), so removing by name alone could run
 * before the file exists, and a part begun after that gets no file at all.
 */
/** What the upload route uses of the daemon. */
export type UploadParts = Pick<MedicalFileScanDaemon, "limitsFor" | "dailyUse" | "incomingDir" | "hashUpload" | "submitUpload" | "waitForVerdict"> & EstimateParts;

export function uploadRoute(daemon: UploadParts): Middleware<ApiState> {
  return async (ctx) => {
    const { userId, tier } = ctx.state.principal;
    const wait = parseWait(ctx.query.wait);
    if (!ctx.is("multipart/form-data")) throw new ApiError(415, "UNSUPPORTED_MEDIA_TYPE", 'send multipart/form-data with the file in the field "file"');
    const limits = daemon.limitsFor(tier);
    const declared = Number(ctx.get("content-length") || 0);
    if (declared > limits.maxFileBytes + MULTIPART_ALLOWANCE) throw refuseUnread(ctx, SubmitRejectedError.tooLarge(tier, limits));
    const today = await daemon.dailyUse(userId, tier);
    if (!today.allowed) throw refuseUnread(ctx, SubmitRejectedError.dailyLimit(tier, limits, today.retryAfterSeconds));
    const written: DurableWriteStream[] = [];
    let settled = false;
    // formidable may still begin a part from bytes it had already read when it failed the
    // request: once the request is settled, such a part's bytes go nowhere.
    const openFile = (): Writable => {
      if (settled) return new Writable({ write: (_chunk, _encoding, done) => done() });
      written.push(new DurableWriteStream(scratchPath(daemon.incomingDir, "upload"), { mode: STORED_FILE_MODE }));
      return written.at(-1)!;
    };
    let handedOver = false;
    try {
      const inlineHash = declared > 0 && declared <= INLINE_HASH_BYTES;
      const { fields, file } = await receive(ctx, openFile, tier, limits, inlineHash).finally(() => (settled = true));
      await finished(written[0]!);
      const received = written[0]!.path;
      const sha256 = inlineHash ? String(file.hash) : await hashReceived(daemon, received, file.size);
      handedOver = true;
      const submitted = await daemon.submitUpload(
        { fileId: fields.fileId, fileHash: fields.fileHash, fileName: file.originalFilename ?? "", declaredType: file.mimetype ?? undefined, userId, userTier: tier },
        { path: received, size: file.size, sha256 },
      );
      const result = wait > 0 ? await daemon.waitForVerdict(submitted.jobId, wait * 1000) : undefined;
      if (result) {
        ctx.status = 200;
        ctx.body = { ...submitted, result };
      } else {
        ctx.status = 202;
        ctx.body = { ...submitted, status: "queued", estimatedTime: await estimateSeconds(daemon) };
      }
    } finally {
      if (!handedOver) await Promise.all(written.map(discard));
    }
  };
}

async function hashReceived(daemon: Pick<UploadParts, "hashUpload">, file: string, size: number): Promise<string> {
  const digest = await daemon.hashUpload(file);
  if (digest.size !== size) throw new Error(`the received file holds ${digest.size} bytes where ${size} arrived`);
  return digest.sha256;
}

async function discard(stream: DurableWriteStream): Promise<void> {
  await finished(stream.destroy()).catch(() => undefined);
  await rm(stream.path, { force: true, maxRetries: 3 });
}

function parseWait(raw: unknown): number {
  if (raw === undefined) return 0;
  const n = typeof raw === "string" && /^\d{1,3}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 0 && n <= MAX_WAIT_SECONDS)) throw new ApiError(400, "INVALID_REQUEST", `wait must be a whole number of seconds from 0 to ${MAX_WAIT_SECONDS}`);
  return n;
}

async function receive(ctx: Context, openFile: () => Writable, tier: Tier, limits: TierLimits, inlineHash: boolean): Promise<{ fields: { fileId?: string; fileHash?: string }; file: UploadedFile }> {
  try {
    await koaBody({
      multipart: true,
      json: false,
      urlencoded: false,
      text: false,
      formidable: {
        fileWriteStreamHandler: openFile,
        // The name formidable would give the file it never writes (openFile names ours): a
        // constant, not its default random id, which costs a SHA-3 in JavaScript per upload.
        filename: () => "upload",
        maxFiles: 1,
        maxFields: 8,
        maxFieldsSize: 16 * 1024,
        maxFileSize: limits.maxFileBytes,
        maxTotalFileSize: limits.maxFileBytes,
        allowEmptyFiles: true,
        minFileSize: 0,
        hashAlgorithm: inlineHash ? "sha256" : false,
      },
    })(ctx, async () => {});
  } catch (err) {
    throw refuseUnread(ctx, fromFormidable(err, tier, limits));
  }
  const files = ctx.request.files ?? {};
  const file = files.file;
  if (!file || Array.isArray(file) || Object.keys(files).length !== 1) throw new ApiError(400, "INVALID_REQUEST", 'send exactly one file, in the field "file"');
  // formidable leaves the name empty when the part's filename cannot be parsed (a raw LF in it, say).
  if (!file.originalFilename) throw new ApiError(400, "INVALID_FILE_NAME", "the file part has no readable filename");
  const body = (ctx.request.body ?? {}) as Record<string, unknown>;
  const field = (name: string): string | undefined => {
    const v = body[name];
    if (v === undefined || typeof v === "string") return v;
    throw new ApiError(400, "INVALID_REQUEST", `send the field ${name} once`);
  };
  return { fields: { fileId: field("fileId"), fileHash: field("fileHash") }, file };
}

function fromFormidable(err: unknown, tier: Tier, limits: TierLimits): Error {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== "number") return err as Error;
  if (TOO_LARGE.has(code)) return SubmitRejectedError.tooLarge(tier, limits);
  if (TOO_MANY_PARTS.has(code)) return new ApiError(400, "TOO_MANY_PARTS", 'send one file in the field "file" and at most the fields fileId and fileHash');
  if (code === errors.aborted) return new ApiError(400, "REQUEST_ABORTED", "the client closed the request before the body was complete");
  return new ApiError(400, "INVALID_REQUEST", `the multipart body could not be read: ${(err as Error).message}`);
}

/**
 * Answers now and drops the rest of the body as it arrives, for a while: closing a socket
 * with unread data sends a reset, which can destroy the answer before the client reads it.
 */
function refuseUnread<E extends Error>(ctx: Context, err: E): E {
  const req = ctx.req;
  if (!req.complete) {
    ctx.res.once("finish", () => {
      const timer = setTimeout(() => req.socket.destroy(), LINGER_MS).unref();
      req.once("end", () => clearTimeout(timer));
      req.once("close", () => clearTimeout(timer));
      req.resume();
    });
  }
  return err;
}
