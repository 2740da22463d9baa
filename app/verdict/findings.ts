import type { EngineName } from "./tiers.ts";

export type Severity = "info" | "low" | "medium" | "high" | "critical";
/** What a finding says about the file: infected and suspicious keep it out of reach, info does not. */
export type FindingVerdict = "infected" | "suspicious" | "info";

/** One finding, as in docs/results.md (engine, id, severity, description, offset) plus verdict and target. */
export interface Finding {
  readonly engine: EngineName;
  readonly id: string;
  readonly severity: Severity;
  readonly verdict: FindingVerdict;
  readonly description: string;
  readonly offset?: number;
  /** "file" for the upload itself, otherwise the derived content it was found in (inflated dataset, carved executable, archive member). */
  readonly target: string;
  /** On the first finding of an id found more often than a result lists: how often it was found in all. */
  readonly occurrences?: number;
}

/** Findings listed per engine and id; a file can make an engine report one thing a hundred thousand times. */
export const MAX_FINDINGS_PER_ID = 20;
/** Descriptions can quote the file (a transfer syntax, a member name): never more than this. */
export const MAX_DESCRIPTION_CHARS = 300;

/** The first MAX_FINDINGS_PER_ID findings of each engine and id, the first of them counting all; descriptions cut to length. */
export function capFindings(findings: readonly Finding[]): Finding[] {
  // A list capped before (in an engine thread) says its total on its first finding.
  const counts = new Map<string, number>();
  const said = new Map<string, number>();
  for (const f of findings) {
    const key = `${f.engine}\0${f.id}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    if (f.occurrences) said.set(key, Math.max(said.get(key) ?? 0, f.occurrences));
  }
  const listed = new Map<string, number>();
  const kept: Finding[] = [];
  for (const f of findings) {
    const key = `${f.engine}\0${f.id}`;
    const n = (listed.get(key) ?? 0) + 1;
    listed.set(key, n);
    if (n > MAX_FINDINGS_PER_ID) continue;
    const total = Math.max(counts.get(key)!, said.get(key) ?? 0);
    const description = f.description.length > MAX_DESCRIPTION_CHARS ? `${f.description.slice(0, MAX_DESCRIPTION_CHARS - 1)}…` : f.description;
    kept.push(n === 1 && total > MAX_FINDINGS_PER_ID ? { ...f, description, occurrences: total } : description === f.description ? f : { ...f, description });
  }
  return kept;
}

interface Heuristic {
  readonly severity: Severity;
  readonly verdict: FindingVerdict;
  readonly recommendation: string;
}

const MALFORMED = "Reject the file and ask the sender for a valid export; malformed structure is a common exploit vector.";
const ARCHIVE = "Do not extract this archive; ask the sender for the files individually or within the archive limits.";

/** Every heuristic the local engines can raise, with the verdict it implies. Reviewed as data. */
export const HEURISTICS = {
  "validation.type-not-allowed": { severity: "medium", verdict: "suspicious", recommendation: "Only accept the medical file types on the allow-list; this content type is not one of them." },
  "validation.extension-mismatch": { severity: "medium", verdict: "suspicious", recommendation: "The file name claims a different type than its content; treat it as a disguised file." },
  "validation.declared-type-mismatch": { severity: "medium", verdict: "suspicious", recommendation: "The declared content type disagrees with the content; treat it as a disguised file." },
  "validation.xml-dtd": { severity: "high", verdict: "suspicious", recommendation: "FHIR XML must not carry a DTD: entity declarations are how XXE and billion-laughs attacks reach a parser. Ask for an export without a DOCTYPE." },
  "validation.json-prototype-key": { severity: "high", verdict: "suspicious", recommendation: "A key named __proto__, constructor or prototype can pollute objects in JavaScript consumers; do not import this file." },
  "validation.json-too-deep": { severity: "medium", verdict: "suspicious", recommendation: "Nesting this deep exhausts recursive parsers; no FHIR resource needs it. " + MALFORMED },
  "validation.json-malformed": { severity: "medium", verdict: "suspicious", recommendation: MALFORMED },
  "dicom.preamble-executable": { severity: "high", verdict: "infected", recommendation: "The DICOM preamble holds an executable (CVE-2019-11687): never open it on a workstation; zero the preamble only after forensic review." },
  "dicom.embedded-executable": { severity: "high", verdict: "infected", recommendation: "A DICOM element carries an executable; quarantine and report to security." },
  "dicom.bad-meta": { severity: "medium", verdict: "suspicious", recommendation: MALFORMED },
  "dicom.unknown-transfer-syntax": { severity: "medium", verdict: "suspicious", recommendation: "The transfer syntax is unknown, so the dataset could not be checked; have the sender re-export it in a standard syntax." },
  "dicom.truncated": { severity: "medium", verdict: "suspicious", recommendation: MALFORMED },
  "dicom.length-out-of-bounds": { severity: "medium", verdict: "suspicious", recommendation: MALFORMED },
  "dicom.bad-delimiter": { severity: "medium", verdict: "suspicious", recommendation: MALFORMED },
  "dicom.nesting-too-deep": { severity: "medium", verdict: "suspicious", recommendation: MALFORMED },
  "dicom.too-many-elements": { severity: "medium", verdict: "suspicious", recommendation: MALFORMED },
  "dicom.trailing-data": { severity: "medium", verdict: "suspicious", recommendation: "Data is hidden after the end of the DICOM dataset; have it reviewed before use." },
  "dicom.inflate-limit": { severity: "high", verdict: "suspicious", recommendation: "The deflated dataset expands past the limit (a decompression bomb?); it could not be fully scanned." },
  "pdf.inflate-limit": { severity: "high", verdict: "suspicious", recommendation: "The PDF's compressed streams expand past the limit (a decompression bomb?); it could not be fully scanned." },
  "dicom.inflate-error": { severity: "medium", verdict: "suspicious", recommendation: "The deflated dataset is corrupt and could not be fully scanned." },
  "archive.unreadable": { severity: "medium", verdict: "suspicious", recommendation: "The archive could not be opened, so its content was not checked." },
  "archive.too-many-entries": { severity: "medium", verdict: "suspicious", recommendation: ARCHIVE },
  "archive.entry-too-large": { severity: "medium", verdict: "suspicious", recommendation: ARCHIVE },
  "archive.total-too-large": { severity: "medium", verdict: "suspicious", recommendation: ARCHIVE },
  "archive.ratio-exceeded": { severity: "high", verdict: "suspicious", recommendation: "The compression ratio is that of a decompression bomb. " + ARCHIVE },
  "archive.too-deep": { severity: "medium", verdict: "suspicious", recommendation: ARCHIVE },
  "archive.unsafe-path": { severity: "high", verdict: "suspicious", recommendation: "An entry name escapes the extraction folder (path traversal); never extract this archive." },
  "archive.symlink": { severity: "high", verdict: "suspicious", recommendation: "The archive holds a symbolic link, which can redirect extraction; never extract it." },
  "archive.encrypted": { severity: "medium", verdict: "suspicious", recommendation: "Encrypted entries cannot be scanned; ask for an unencrypted copy through a secure channel." },
  "archive.member-executable": { severity: "high", verdict: "infected", recommendation: "A program or script is inside the archive; quarantine the whole archive and ask the sender for the medical files alone." },
  "archive.member-type-not-allowed": { severity: "medium", verdict: "suspicious", recommendation: "A member of the archive is not one of the medical file types on the allow-list; ask the sender for the medical files alone." },
  "archive.member-preamble-executable": { severity: "high", verdict: "infected", recommendation: "A DICOM file inside the archive has an executable preamble (CVE-2019-11687); quarantine the whole archive." },
  "analysis.embedded-executable": { severity: "high", verdict: "suspicious", recommendation: "An executable is embedded in a file that should not hold one; quarantine and review." },
  "analysis.pdf-javascript": { severity: "high", verdict: "suspicious", recommendation: "The PDF carries JavaScript; open it only in a sandboxed viewer with scripting off." },
  "analysis.pdf-open-action": { severity: "medium", verdict: "suspicious", recommendation: "The PDF runs an action when opened; open it only in a sandboxed viewer." },
  "analysis.pdf-launch": { severity: "high", verdict: "suspicious", recommendation: "The PDF can launch programs or URLs; never open it outside a sandbox." },
  "analysis.pdf-embedded-file": { severity: "medium", verdict: "suspicious", recommendation: "The PDF carries an embedded file; extract and scan it before use." },
  "analysis.high-entropy-private-tag": { severity: "medium", verdict: "suspicious", recommendation: "A DICOM private tag holds encrypted or compressed-looking data; review what the vendor stores there." },
  "analysis.high-entropy-text": { severity: "medium", verdict: "suspicious", recommendation: "A text format holds a long run of random-looking bytes, a sign of a hidden payload." },
  "analysis.high-entropy-region": { severity: "info", verdict: "info", recommendation: "" },
} as const satisfies Record<string, Heuristic>;

export type HeuristicId = keyof typeof HEURISTICS;

export function heuristicFinding(
  engine: EngineName,
  id: HeuristicId,
  description: string,
  where: { offset?: number; target?: string } = {},
): Finding {
  const h = HEURISTICS[id];
  return { engine, id, severity: h.severity, verdict: h.verdict, description, offset: where.offset, target: where.target ?? "file" };
}

export function recommendationFor(id: string): string | undefined {
  const h = (HEURISTICS as Record<string, Heuristic>)[id];
  return h && h.recommendation !== "" ? h.recommendation : undefined;
}
