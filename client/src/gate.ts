import { rm } from "node:fs/promises";
import { ScanApiError, ScanUnavailableError, type Finding, type ScanClient, type ScanResult } from "./client.ts";

/** One file of an incoming upload, as the application's multipart parser left it: on disk or in memory. */
export interface IncomingFile {
  readonly field: string;
  readonly name: string;
  readonly path?: string;
  readonly buffer?: Uint8Array;
}

export interface GateOptions {
  readonly client: Pick<ScanClient, "upload">;
  /** Seconds the daemon may take for one file's verdict; longer is answered 503 (default 60). */
  readonly waitSeconds?: number;
  /** Remove the files of a refused upload from disk, so nothing refused is left for the application to find (default true). */
  readonly removeRefused?: boolean;
}

export interface ScannedFile extends IncomingFile {
  readonly result: ScanResult;
}

/** What the gate answers instead of the application. */
export interface Refusal {
  readonly status: 422 | 503;
  readonly headers: Record<string, string>;
  readonly body: { readonly error: { readonly code: string; readonly message: string; readonly field?: string; readonly status?: string; readonly findings?: readonly Finding[] } };
}

/**
 * Scans every file of an upload through the daemon, one after another, before the application
 * sees any of them. Only a `clean` verdict passes. Anything else the daemon says about a file
 * (suspicious, infected, error, or a refusal such as an empty file or a wrong type) is 422
 * FILE_REJECTED; a daemon that cannot be reached, is busy or does not finish in time is 503
 * SCAN_UNAVAILABLE. Never a pass without a verdict.
 */
export async function scanUpload(files: readonly IncomingFile[], options: GateOptions): Promise<{ passed: ScannedFile[] } | { refused: Refusal }> {
  const passed: ScannedFile[] = [];
  for (const file of files) {
    const verdict = await scanOne(file, options);
    if ("refused" in verdict) {
      if (options.removeRefused ?? true) await Promise.all(files.map((f) => (f.path ? rm(f.path, { force: true }) : undefined)));
      return verdict;
    }
    passed.push({ ...file, result: verdict.result });
  }
  return { passed };
}

async function scanOne(file: IncomingFile, options: GateOptions): Promise<{ result: ScanResult } | { refused: Refusal }> {
  const source = file.path ?? file.buffer;
  if (source === undefined) return { refused: rejected(file, "error", "the upload's file has neither a path nor bytes to scan") };
  try {
    const answer = await options.client.upload(source, { name: file.name, wait: options.waitSeconds ?? 60 });
    if (!("result" in answer)) return { refused: unavailable("the scan did not finish in time") };
    if (answer.result.status !== "clean") return { refused: rejected(file, answer.result.status, `the file is ${answer.result.status}`, answer.result.findings) };
    return { result: answer.result };
  } catch (err) {
    if (err instanceof ScanApiError && [400, 409, 413, 415, 422].includes(err.status)) return { refused: rejected(file, "refused", `the scanner refused the file: ${err.code}`) };
    // The daemon's own words (addresses, its key's problems) are for the operator, not the uploader.
    if (err instanceof ScanApiError || err instanceof ScanUnavailableError) return { refused: unavailable("the scanner is unavailable", err instanceof ScanApiError ? err.retryAfterSeconds : undefined) };
    throw err;
  }
}

function rejected(file: IncomingFile, status: string, message: string, findings: readonly Finding[] = []): Refusal {
  return { status: 422, headers: {}, body: { error: { code: "FILE_REJECTED", message, field: file.field, status, findings } } };
}

function unavailable(message: string, retryAfterSeconds?: number): Refusal {
  return { status: 503, headers: { "retry-after": String(Math.min(retryAfterSeconds ?? 30, 3600)) }, body: { error: { code: "SCAN_UNAVAILABLE", message: `${message}; try again later` } } };
}
