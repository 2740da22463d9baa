import { createReadStream } from "node:fs";

export interface XmlProblem {
  readonly id: "validation.xml-dtd";
  readonly description: string;
  readonly offset: number;
}

const MARKERS = ["<!DOCTYPE", "<!ENTITY"].map((m) => Buffer.from(m, "latin1"));
const OVERLAP = Math.max(...MARKERS.map((m) => m.length)) - 1;

/**
 * FHIR's XML format forbids DTDs, and a DTD is what carries external entities (XXE) and
 * entity expansion (billion laughs) to the parsers behind this gate: any DOCTYPE or ENTITY
 * declaration is reported, wherever it is in the file. Streams the file; the tail of each
 * chunk is kept so a marker split across two chunks is still seen.
 */
export async function inspectXml(file: string, signal: AbortSignal): Promise<XmlProblem | null> {
  let carry = Buffer.alloc(0);
  let base = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024, signal }) as AsyncIterable<Buffer>) {
    const window = Buffer.concat([carry, chunk]);
    for (const marker of MARKERS) {
      const at = window.indexOf(marker);
      if (at >= 0) return { id: "validation.xml-dtd", description: `the XML declares a DTD (${marker.toString("latin1")}), which FHIR forbids`, offset: base + at };
    }
    carry = window.subarray(Math.max(0, window.length - OVERLAP));
    base += window.length - carry.length;
  }
  return null;
}
