import { open } from "node:fs/promises";
import { shannonEntropy } from "./entropy.ts";
import { HIGH_ENTROPY, sweepFile } from "./content-sweep.ts";
import { heuristicFinding, type Finding } from "../../verdict/findings.ts";
import type { FileKind } from "../../verdict/file-kind.ts";
import type { EngineVersion, FileFacts, ScanContext, ScanOutcome, Scanner, ScanTarget } from "../../scan/scanner.ts";

const VERSION = "analysis/1";
const TEXT_KINDS: readonly FileKind[] = ["hl7v2", "fhir-json", "fhir-xml", "text", "csv"];
/** Private values shorter than this hold too few bytes for entropy to mean anything. */
const PRIVATE_ENTROPY_MIN = 4096;
const PRIVATE_ENTROPY_MAX_READ = 16 * 1024 * 1024;
const PRIVATE_VALUE_ENTROPY = 7.5;

/**
 * Gold and above. Detects: executables embedded anywhere (a PE is an MZ whose e_lfanew points
 * at "PE\0\0"), random-looking data in text formats and in DICOM private tags, PDF JavaScript,
 * OpenAction/AA, Launch and embedded files. Knowingly misses: payloads in compressed PDF object
 * streams and encrypted data inside image pixel data, which is random-looking by nature.
 */
export class AnalysisScanner implements Scanner {
  readonly name = "analysis" as const;

  async version(): Promise<EngineVersion> {
    return { label: VERSION, cacheable: true };
  }

  async scan(ctx: ScanContext): Promise<ScanOutcome> {
    const facts = ctx.facts;
    if (!facts) throw new Error("analysis runs after validation");
    const findings: Finding[] = [];
    const targets = ctx.targets.filter((t) => t.role !== "executable");
    for (const [i, target] of targets.entries()) {
      findings.push(...(await this.sweepTarget(target, facts, ctx, i, targets.length)));
    }
    findings.push(...(await this.privateTagEntropy(facts)));
    return { findings };
  }

  private async sweepTarget(target: ScanTarget, facts: FileFacts, ctx: ScanContext, index: number, count: number): Promise<Finding[]> {
    const where = { target: target.label };
    const size = target.role === "file" ? facts.size : Infinity;
    const sweep = await sweepFile(target.path, {
      pdf: (facts.kind === "pdf" && target.role === "file") || target.role === "pdf",
      signal: ctx.signal,
      onBytes: (n) => ctx.progress((index + Math.min(1, n / size)) / count),
    });
    const findings: Finding[] = [];
    for (const x of sweep.executables) {
      findings.push(heuristicFinding("analysis", "analysis.embedded-executable", `${x.kind} executable embedded at offset ${x.offset}`, { ...where, offset: x.offset }));
    }
    for (const id of sweep.pdfActions) findings.push(heuristicFinding("analysis", id, `PDF contains ${id.replace("analysis.pdf-", "")} content`, where));
    if (sweep.highEntropyWindows.length > 0) {
      const text = facts.kind !== null && TEXT_KINDS.includes(facts.kind) && target.role === "file";
      findings.push(
        heuristicFinding(
          "analysis",
          text ? "analysis.high-entropy-text" : "analysis.high-entropy-region",
          `${sweep.highEntropyWindows.length} window(s) of 64 KiB at ${HIGH_ENTROPY}+ bits per byte`,
          { ...where, offset: sweep.highEntropyWindows[0] },
        ),
      );
    }
    return findings;
  }

  private async privateTagEntropy(facts: FileFacts): Promise<Finding[]> {
    const dataset = facts.dicomDataset;
    const values = (facts.dicomPrivateValues ?? []).filter((v) => v.length >= PRIVATE_ENTROPY_MIN);
    if (!dataset || values.length === 0) return [];
    const findings: Finding[] = [];
    const handle = await open(dataset.path, "r");
    try {
      for (const v of values) {
        const buf = Buffer.alloc(Math.min(v.length, PRIVATE_ENTROPY_MAX_READ));
        await handle.read(buf, 0, buf.length, v.offset);
        const bits = shannonEntropy(buf);
        if (bits >= PRIVATE_VALUE_ENTROPY) {
          findings.push(
            heuristicFinding("analysis", "analysis.high-entropy-private-tag", `private element ${v.tag} (${v.length} bytes) has ${bits.toFixed(2)} bits per byte`, {
              offset: v.offset,
              target: dataset.label,
            }),
          );
        }
      }
    } finally {
      await handle.close();
    }
    return findings;
  }
}
