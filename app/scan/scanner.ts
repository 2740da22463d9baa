import type { FileKind } from "../verdict/file-kind.ts";
import type { EngineName, Tier } from "../verdict/tiers.ts";
import type { Finding } from "../verdict/findings.ts";

/** An element value inside a DICOM dataset, by tag and position. */
export interface ValueRef {
  readonly tag: string;
  readonly offset: number;
  readonly length: number;
}

/** Content an engine scans: the upload itself or something derived from it. */
export interface ScanTarget {
  readonly label: string;
  readonly path: string;
  /**
   * "executable" targets were cut out because they are executables; analysis does not re-flag
   * them. "pdf": a PDF derived from the upload (its inflated streams, an encapsulated document),
   * which analysis reads for PDF active content whatever the upload's own type.
   */
  readonly role: "file" | "dataset" | "executable" | "pdf";
}

/** What validation learned about the file, for the engines that follow. */
export interface FileFacts {
  readonly size: number;
  readonly sha256: string;
  readonly kind: FileKind | null;
  readonly mime: string;
  /** DICOM private element values (offsets into `dicomDataset`). */
  readonly dicomPrivateValues?: readonly ValueRef[];
  readonly dicomDataset?: ScanTarget;
}

export interface ScanRequest {
  readonly path: string;
  readonly tier: Tier;
  /** The client's file name: only its extension is used, never as a path. */
  readonly declaredName?: string;
  readonly declaredType?: string;
  /** SHA-256 the client says the file has; a mismatch is an integrity error. */
  readonly expectedSha256?: string;
  /**
   * Hashes this service computed itself while the bytes arrived (the upload path), so
   * validation need not read the whole file again. Never a client's claim: that is expectedSha256.
   */
  readonly digest?: { readonly size: number; readonly sha256: string };
  /** Enterprise tenant whose own YARA rules apply. */
  readonly tenantId?: string;
  /** Skip the result cache (a rescan must run the current engines). */
  readonly bypassCache?: boolean;
}

export interface ScanContext {
  readonly request: ScanRequest;
  readonly file: ScanTarget;
  /** The file first, then what earlier engines derived from it (inflated datasets, carved executables). */
  readonly targets: readonly ScanTarget[];
  readonly facts: FileFacts | undefined;
  /** A private folder for this scan, made on first use and removed by the pipeline afterwards. */
  workDir(): Promise<string>;
  /** The folder workDir() makes, for an engine thread to make it on its own. */
  readonly workDirPath: string;
  readonly signal: AbortSignal;
  /** Fraction of this engine's work done, 0..1. */
  progress(fraction: number): void;
}

export interface ScanOutcome {
  readonly findings: readonly Finding[];
  /** Content derived from the file that every later engine must scan too (validation only). */
  readonly artifacts?: readonly ScanTarget[];
  readonly facts?: FileFacts;
}

export interface EngineVersion {
  /** Engine and signature versions, recorded in every result. */
  readonly label: string;
  /** False when the label cannot prove which signatures were loaded: then nothing is cached. */
  readonly cacheable: boolean;
  /** Only a development (test) signature set is loaded: the result must say so. */
  readonly development?: boolean;
}

/**
 * One engine. The pipeline, not the scanner, owns timeouts, timing and error capture:
 * a scanner throws (EngineError, RejectedInputError) rather than returning a partial answer.
 */
export interface Scanner {
  readonly name: EngineName;
  /**
   * The engine and signature versions a result depends on (part of the cache key). An engine
   * may answer from a moment ago, except when `fresh`: a cached verdict is served only on
   * versions asked just then.
   */
  version(request: ScanRequest, fresh?: boolean): Promise<EngineVersion>;
  scan(ctx: ScanContext): Promise<ScanOutcome>;
}
