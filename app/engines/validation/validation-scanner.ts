import { closeSync, fstatSync, openSync } from "node:fs";
import path from "node:path";
import type { ScanLimits } from "../../config.ts";
import type { FileKind } from "../../verdict/file-kind.ts";
import { RejectedInputError } from "../../errors/rejected-input-error.ts";
import { heuristicFinding, type Finding } from "../../verdict/findings.ts";
import type { Tier, TierLimits } from "../../verdict/tiers.ts";
import { guardZip } from "./archive-guard.ts";
import { detectKind } from "./detect-kind.ts";
import { inspectDicom } from "./dicom-inspector.ts";
import { digestFile, HEAD_BYTES } from "./file-digest.ts";
import { FileWindow } from "./file-window.ts";
import { claimFromName, kindsFromDeclaredType } from "./file-kinds.ts";
import { inspectJson } from "./json-inspector.ts";
import { inflatePdfStreams } from "./pdf-streams.ts";
import { inspectXml } from "./xml-inspector.ts";
import type { EngineVersion, FileFacts, ScanContext, ScanOutcome, ScanTarget, Scanner } from "../../scan/scanner.ts";

const VERSION = "validation/5";

/**
 * Runs for every tier before any engine. Detects: content types off the allow-list, names and
 * declared types that disagree with the content, DICOM Part 10 structure problems and preamble
 * polyglots, executables in DICOM element values, unsafe or oversized ZIPs, DTDs in FHIR XML,
 * prototype keys and hostile nesting in FHIR JSON. Computes the hashes.
 * Refuses empty files and files whose hash differs from the client's. Misses: malicious
 * content in a well-formed file of an allowed type (the engines after it look for that).
 */
export class ValidationScanner implements Scanner {
  readonly name = "validation" as const;

  constructor(
    private readonly allowed: readonly FileKind[],
    private readonly limits: ScanLimits,
    private readonly tiers: Readonly<Record<Tier, TierLimits>>,
  ) {}

  async version(): Promise<EngineVersion> {
    return { label: VERSION, cacheable: true };
  }

  /**
   * One descriptor serves the size, the head and a DICOM's walk: a small file is read once.
   * Opened and read on the calling thread, an engine thread, where each trip through libuv's
   * pool cost more than the call.
   */
  async scan(ctx: ScanContext): Promise<ScanOutcome> {
    let fd: number;
    try {
      fd = openSync(ctx.file.path, "r");
    } catch (err) {
      throw new RejectedInputError("UNREADABLE_FILE", `the file cannot be read: ${(err as Error).message}`);
    }
    try {
      return await this.inspect(ctx, new FileWindow(fd, fstatSync(fd).size));
    } finally {
      closeSync(fd);
    }
  }

  private async inspect(ctx: ScanContext, win: FileWindow): Promise<ScanOutcome> {
    const { request, file } = ctx;
    const { size } = win;
    if (size === 0) throw new RejectedInputError("EMPTY_FILE", "the file is empty");
    const digest = request.digest && request.digest.size === size ? { ...request.digest, head: win.read(0, HEAD_BYTES) } : await digestFile(file.path, ctx.signal, (done) => ctx.progress((0.8 * done) / size), size);
    if (request.expectedSha256 && request.expectedSha256.toLowerCase() !== digest.sha256) {
      throw new RejectedInputError("INTEGRITY_MISMATCH", "the file's SHA-256 differs from the fileHash sent with it");
    }
    const detected = await detectKind(digest.head);
    const findings: Finding[] = [...this.claimFindings(detected.kind, detected.mime, request.declaredName, request.declaredType)];
    const artifacts: ScanTarget[] = [];
    let dicom: Pick<FileFacts, "dicomPrivateValues" | "dicomDataset"> = {};

    if (detected.kind === "dicom") {
      // What a deflated dataset inflates to counts against the tier's size limit, as the upload did.
      const limits = { ...this.limits, dicomMaxInflatedBytes: Math.min(this.limits.dicomMaxInflatedBytes, this.tiers[request.tier].maxFileBytes) };
      const inspection = await inspectDicom(file, win, limits, ctx.workDir, ctx.signal);
      for (const issue of inspection.issues) findings.push(heuristicFinding("validation", issue.id, issue.description, issue));
      artifacts.push(...inspection.artifacts);
      dicom = { dicomPrivateValues: inspection.privateValues, dicomDataset: inspection.dataset };
    } else if (detected.kind === "pdf") {
      // Inflated streams are derived bytes: they count against the tier's size limit, as a deflated DICOM's do.
      const streams: ScanTarget = { label: "pdf-streams", path: path.join(await ctx.workDir(), "pdf-streams.bin"), role: "pdf" };
      const cap = Math.min(this.limits.dicomMaxInflatedBytes, this.tiers[request.tier].maxFileBytes);
      const { inflated, issue } = await inflatePdfStreams(file.path, size, streams.path, cap, ctx.signal);
      if (inflated) artifacts.push(streams);
      if (issue) findings.push(heuristicFinding("validation", issue.id, issue.description));
    } else if (detected.kind === "zip") {
      for (const p of await guardZip(file.path, this.limits, this.allowed, ctx.workDir, ctx.signal)) findings.push(heuristicFinding("validation", p.id, p.description));
    } else if (detected.kind === "fhir-json" || detected.kind === "fhir-xml") {
      const problem = detected.kind === "fhir-json" ? await inspectJson(file.path, this.limits.jsonMaxDepth, ctx.signal) : await inspectXml(file.path, ctx.signal);
      if (problem) findings.push(heuristicFinding("validation", problem.id, problem.description, problem));
    }
    ctx.progress(1);
    const facts: FileFacts = {
      size: digest.size,
      sha256: digest.sha256,
      kind: detected.kind,
      mime: detected.mime,
      ...dicom,
    };
    return { findings, artifacts, facts };
  }

  private *claimFindings(kind: FileKind | null, mime: string, declaredName?: string, declaredType?: string): Generator<Finding> {
    if (kind === null || !this.allowed.includes(kind)) {
      yield heuristicFinding("validation", "validation.type-not-allowed", `content is ${mime}, which is not on the allow-list`);
    }
    const claim = claimFromName(declaredName);
    if (claim.kind === "foreign" || (claim.kind === "known" && (kind === null || !claim.kinds.includes(kind)))) {
      yield heuristicFinding("validation", "validation.extension-mismatch", `the name's extension ${JSON.stringify(claim.extension)} does not match the content (${mime})`);
    }
    const declared = kindsFromDeclaredType(declaredType);
    if (declared === "foreign" || (declared !== "none" && (kind === null || !declared.includes(kind)))) {
      yield heuristicFinding("validation", "validation.declared-type-mismatch", `declared type ${JSON.stringify(declaredType)} does not match the content (${mime})`);
    }
  }
}

