import { EXECUTABLE_PROBE_BYTES, executableAt, type ExecutableKind } from "./executable-header.ts";
import { LONG_VRS, UNDEFINED_LENGTH, type Syntax } from "./dicom-syntax.ts";
import type { FileWindow } from "./file-window.ts";
import type { ValueRef } from "../../scan/scanner.ts";

export type DicomProblemId =
  | "dicom.truncated"
  | "dicom.length-out-of-bounds"
  | "dicom.nesting-too-deep"
  | "dicom.bad-delimiter"
  | "dicom.too-many-elements"
  | "dicom.trailing-data";

export interface DicomProblem {
  readonly id: DicomProblemId;
  readonly description: string;
  readonly offset: number;
}

/** Encapsulated documents handed to the engines per dataset. */
const MAX_DOCUMENTS = 4;

export interface DatasetWalk {
  elements: number;
  readonly problems: DicomProblem[];
  /** Values of private (odd-group) elements, for the analysis engine. */
  readonly privateValues: ValueRef[];
  /** Element values (or encapsulated fragments) that begin with an executable header. */
  readonly executables: (ValueRef & { readonly kind: ExecutableKind })[];
  /** Encapsulated Document values (0042,0011): a PDF, CDA or other file carried whole. */
  readonly documents: ValueRef[];
}

export interface WalkLimits {
  readonly maxDepth: number;
  readonly maxElements: number;
}

const MAX_PRIVATE_REFS = 1000;

/** `implicit`: inside a UN sequence of undefined length, which PS3.5 6.2.2 encodes as implicit VR little endian. */
type Container = { readonly type: "sequence" | "item" | "fragments"; readonly end: number | null; readonly implicit: boolean };

const ITEM = 0xe000;
const ITEM_DELIMITER = 0xe00d;
const SEQUENCE_DELIMITER = 0xe0dd;

const hex4 = (n: number) => n.toString(16).toUpperCase().padStart(4, "0");

/**
 * Walks every element of a dataset without recursion (a hostile file may nest sequences
 * thousands deep) and checks that each length stays inside its container and the file.
 * It stops at the first structural problem: past that point offsets mean nothing.
 */
export function walkDataset(
  win: FileWindow,
  start: number,
  end: number,
  syntax: Syntax,
  limits: WalkLimits,
): DatasetWalk {
  const walk: DatasetWalk = { elements: 0, problems: [], privateValues: [], executables: [], documents: [] };
  const stack: Container[] = [];
  const fail = (id: DicomProblemId, description: string, offset: number) => {
    walk.problems.push({ id, description, offset });
    return walk;
  };
  const le = () => syntax.littleEndian || (stack.at(-1)?.implicit ?? false);
  const u16 = (b: Buffer, o: number) => (le() ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (b: Buffer, o: number) => (le() ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const limitOf = () => {
    for (let i = stack.length - 1; i >= 0; i--) {
      const e = stack[i]!.end;
      if (e !== null) return e;
    }
    return end;
  };

  let pos = start;
  for (;;) {
    let top = stack.at(-1);
    while (top && top.end !== null && pos >= top.end) {
      if (pos > top.end) return fail("dicom.length-out-of-bounds", "an element runs past the end of its sequence or item", pos);
      stack.pop();
      top = stack.at(-1);
    }
    if (pos >= end) break;
    if (++walk.elements > limits.maxElements) return fail("dicom.too-many-elements", `more than ${limits.maxElements} elements`, pos);

    const header = win.read(pos, 12);
    if (header.length < 8) return fail("dicom.truncated", "the file ends inside an element header", pos);
    const group = u16(header, 0);
    const element = u16(header, 2);

    // Vendors pad files with zeros after the dataset; padding must be zeros to the end.
    if (stack.length === 0 && header.readBigUInt64LE(0) === 0n) {
      if (zerosToEnd(win, pos, end)) break;
      return fail("dicom.trailing-data", "non-zero data after the zero padding that ends the dataset", pos);
    }

    if (group === 0xfffe) {
      // Item and delimiter tags carry no VR in every transfer syntax.
      const length = u32(header, 4);
      pos += 8;
      if (element === ITEM) {
        if (!top || top.type === "item") return fail("dicom.bad-delimiter", "an item outside a sequence", pos - 8);
        if (top.type === "fragments") {
          if (length === UNDEFINED_LENGTH) return fail("dicom.bad-delimiter", "an encapsulated fragment of undefined length", pos - 8);
          if (pos + length > limitOf()) return fail("dicom.length-out-of-bounds", "a fragment runs past the end of the file", pos - 8);
          noteExecutable(win, walk, "(7FE0,0010)", pos, length);
          pos += length;
          continue;
        }
        // An item longer than its sequence of defined length ends with the sequence, as dcmtk
        // reads it (writers that drop elements from a record forget the item's length); the
        // sequence's own length was checked against its container, and every byte is still walked.
        const itemEnd = length === UNDEFINED_LENGTH ? null : top.end !== null ? Math.min(pos + length, top.end) : pos + length;
        if (itemEnd !== null && itemEnd > limitOf()) {
          return fail("dicom.length-out-of-bounds", "an item runs past the end of its sequence or the file", pos - 8);
        }
        stack.push({ type: "item", end: itemEnd, implicit: top.implicit });
      } else if (element === ITEM_DELIMITER) {
        if (!top || top.type !== "item" || top.end !== null) return fail("dicom.bad-delimiter", "an item delimiter with no open item", pos - 8);
        stack.pop();
      } else if (element === SEQUENCE_DELIMITER) {
        if (!top || top.type === "item" || top.end !== null) return fail("dicom.bad-delimiter", "a sequence delimiter with no open sequence", pos - 8);
        stack.pop();
      } else {
        return fail("dicom.bad-delimiter", `unknown delimitation tag (FFFE,${hex4(element)})`, pos - 8);
      }
      if (stack.length > limits.maxDepth) return fail("dicom.nesting-too-deep", `sequences nested deeper than ${limits.maxDepth}`, pos);
      continue;
    }

    const implicit = top?.implicit ?? false;
    let vr: string | null = null;
    let length: number;
    let headerLength: number;
    if (syntax.explicitVr && !implicit) {
      vr = header.toString("latin1", 4, 6);
      if (LONG_VRS.has(vr)) {
        if (header.length < 12) return fail("dicom.truncated", "the file ends inside an element header", pos);
        length = u32(header, 8);
        headerLength = 12;
      } else {
        length = u16(header, 6);
        headerLength = 8;
      }
    } else {
      length = u32(header, 4);
      headerLength = 8;
    }
    const tag = `(${hex4(group)},${hex4(element)})`;
    const valueStart = pos + headerLength;

    if (length === UNDEFINED_LENGTH) {
      const isPixelData = group === 0x7fe0 && element === 0x0010;
      if (isPixelData && (vr === "OB" || vr === "OW")) stack.push({ type: "fragments", end: null, implicit });
      else if (vr === null || vr === "SQ" || vr === "UN") stack.push({ type: "sequence", end: null, implicit: implicit || vr === "UN" });
      else return fail("dicom.length-out-of-bounds", `undefined length on ${vr} element ${tag}`, pos);
      if (stack.length > limits.maxDepth) return fail("dicom.nesting-too-deep", `sequences nested deeper than ${limits.maxDepth}`, pos);
      pos = valueStart;
      continue;
    }
    if (valueStart + length > limitOf()) {
      return fail("dicom.length-out-of-bounds", `element ${tag} claims ${length} bytes, past the end of its container or the file`, pos);
    }
    if (vr === "SQ") {
      stack.push({ type: "sequence", end: valueStart + length, implicit });
      if (stack.length > limits.maxDepth) return fail("dicom.nesting-too-deep", `sequences nested deeper than ${limits.maxDepth}`, pos);
      pos = valueStart;
      continue;
    }
    if (group % 2 === 1 && length > 0 && walk.privateValues.length < MAX_PRIVATE_REFS) {
      walk.privateValues.push({ tag, offset: valueStart, length });
    }
    if (group === 0x0042 && element === 0x0011 && length > 0 && walk.documents.length < MAX_DOCUMENTS) walk.documents.push({ tag, offset: valueStart, length });
    noteExecutable(win, walk, tag, valueStart, length);
    pos = valueStart + length;
  }
  if (stack.some((c) => c.end === null)) return fail("dicom.truncated", "the file ends inside an open sequence or item", pos);
  return walk;
}

const ZEROS = Buffer.alloc(256 * 1024);

function zerosToEnd(win: FileWindow, from: number, end: number): boolean {
  for (let at = from; at < end; at += ZEROS.length) {
    const part = win.read(at, Math.min(ZEROS.length, end - at));
    if (!part.equals(ZEROS.subarray(0, part.length))) return false;
  }
  return true;
}

function noteExecutable(win: FileWindow, walk: DatasetWalk, tag: string, offset: number, length: number): void {
  if (length < 64) return;
  const probe = win.read(offset, Math.min(length, EXECUTABLE_PROBE_BYTES));
  const kind = executableAt(probe);
  if (kind) walk.executables.push({ tag, offset, length, kind });
}
