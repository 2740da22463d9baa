import assert from "node:assert/strict";
import { mkdtemp, open, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { walkDataset } from "../../app/engines/validation/dicom-walker.ts";
import { syntaxOf, TS_EXPLICIT_LE, TS_IMPLICIT_LE } from "../../app/engines/validation/dicom-syntax.ts";
import { FileWindow } from "../../app/engines/validation/file-window.ts";
import { explicitLe, text } from "../fixtures/dicom.ts";

async function walk(data: Buffer, ts = TS_EXPLICIT_LE, maxDepth = 32) {
  const dir = await mkdtemp(path.join(os.tmpdir(), "msd-walk-"));
  const file = path.join(dir, "d.bin");
  await writeFile(file, data);
  const handle = await open(file, "r");
  try {
    return walkDataset(new FileWindow(handle.fd, data.length), 0, data.length, syntaxOf(ts)!, { maxDepth, maxElements: 1_000_000 });
  } finally {
    await handle.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const tag = (group: number, element: number, length: number) => {
  const b = Buffer.alloc(8);
  b.writeUInt16LE(group, 0);
  b.writeUInt16LE(element, 2);
  b.writeUInt32LE(length, 4);
  return b;
};
const sqUndefined = (group: number, element: number) => {
  const b = Buffer.alloc(12);
  b.writeUInt16LE(group, 0);
  b.writeUInt16LE(element, 2);
  b.write("SQ", 4, "latin1");
  b.writeUInt32LE(0xffffffff, 8);
  return b;
};

describe("DICOM dataset walker", () => {
  it("an item longer than its sequence of defined length ends with the sequence (as dcmtk reads it); past the file it is flagged", async () => {
    const record = explicitLe({ group: 0x0004, element: 0x1430, vr: "CS", value: text("IMAGE ") });
    const item = Buffer.concat([tag(0xfffe, 0xe000, record.length + 24), record]);
    const sq = Buffer.alloc(12);
    sq.writeUInt16LE(0x0004, 0);
    sq.writeUInt16LE(0x1220, 2);
    sq.write("SQ", 4, "latin1");
    sq.writeUInt32LE(item.length, 8);
    assert.deepEqual((await walk(Buffer.concat([sq, item]))).problems, []);
    const open = Buffer.concat([sqUndefined(0x0004, 0x1220), item]);
    assert.equal((await walk(open)).problems[0]?.id, "dicom.length-out-of-bounds");
  });

  it("a sequence encoded as UN with undefined length is walked as implicit VR little endian (PS3.5 6.2.2), not flagged", async () => {
    const unUndefined = Buffer.alloc(12);
    unUndefined.writeUInt16LE(0x0009, 0);
    unUndefined.writeUInt16LE(0x1010, 2);
    unUndefined.write("UN", 4, "latin1");
    unUndefined.writeUInt32LE(0xffffffff, 8);
    const implicitElement = (group: number, element: number, value: Buffer) => Buffer.concat([tag(group, element, value.length), value]);
    const data = Buffer.concat([
      explicitLe({ group: 0x0008, element: 0x0060, vr: "CS", value: text("CT") }),
      unUndefined,
      tag(0xfffe, 0xe000, 0xffffffff),
      implicitElement(0x0008, 0x1150, text("1.2.840.10008.5.1.4.1.1.2")),
      implicitElement(0x0008, 0x1155, text("1.2.3.4.5.6.7.8")),
      tag(0xfffe, 0xe00d, 0),
      tag(0xfffe, 0xe0dd, 0),
      explicitLe({ group: 0x0010, element: 0x0010, vr: "PN", value: text("Test^Patient") }),
    ]);
    const result = await walk(data);
    assert.deepEqual(result.problems, []);
    assert.equal(result.elements, 8);
  });

  it("walks a well-formed explicit dataset and records private values", async () => {
    const data = Buffer.concat([
      explicitLe({ group: 0x0008, element: 0x0060, vr: "CS", value: text("OT") }),
      explicitLe({ group: 0x0009, element: 0x1010, vr: "OB", value: Buffer.alloc(10, 1) }),
    ]);
    const w = await walk(data);
    assert.deepEqual(w.problems, []);
    assert.equal(w.elements, 2);
    assert.deepEqual(w.privateValues.map((v) => v.tag), ["(0009,1010)"]);
  });

  it("walks nested sequences with undefined lengths and delimiters", async () => {
    const data = Buffer.concat([
      sqUndefined(0x0008, 0x1115),
      tag(0xfffe, 0xe000, 0xffffffff),
      explicitLe({ group: 0x0008, element: 0x1150, vr: "UI", value: text("1.2.3") }),
      tag(0xfffe, 0xe00d, 0),
      tag(0xfffe, 0xe0dd, 0),
      explicitLe({ group: 0x0010, element: 0x0010, vr: "PN", value: text("A^B") }),
    ]);
    assert.deepEqual((await walk(data)).problems, []);
  });

  it("an element length past the end of the file is a problem", async () => {
    const el = explicitLe({ group: 0x0009, element: 0x1010, vr: "OB", value: Buffer.alloc(16) });
    el.writeUInt32LE(1000, 8);
    const w = await walk(el);
    assert.equal(w.problems[0]?.id, "dicom.length-out-of-bounds");
  });

  it("length 0xFFFFFFFF on a plain element is a problem", async () => {
    const el = explicitLe({ group: 0x0010, element: 0x0010, vr: "UT", value: text("abcd") });
    el.writeUInt32LE(0xffffffff, 8);
    assert.equal((await walk(el)).problems[0]?.id, "dicom.length-out-of-bounds");
  });

  it("a file that ends inside an open sequence is truncated", async () => {
    const data = Buffer.concat([sqUndefined(0x0008, 0x1115), tag(0xfffe, 0xe000, 0xffffffff)]);
    assert.equal((await walk(data)).problems[0]?.id, "dicom.truncated");
  });

  it("a file cut inside an element header is truncated", async () => {
    const data = explicitLe({ group: 0x0008, element: 0x0060, vr: "CS", value: text("OT") }).subarray(0, 6);
    assert.equal((await walk(data)).problems[0]?.id, "dicom.truncated");
  });

  it("sequences nested 10,000 deep stop at the depth limit without recursion", async () => {
    const parts: Buffer[] = [];
    for (let i = 0; i < 10_000; i++) parts.push(sqUndefined(0x0008, 0x1115), tag(0xfffe, 0xe000, 0xffffffff));
    const w = await walk(Buffer.concat(parts));
    assert.equal(w.problems[0]?.id, "dicom.nesting-too-deep");
  });

  it("zero padding after the dataset ends it; data hidden after the padding does not", async () => {
    const el = explicitLe({ group: 0x0008, element: 0x0060, vr: "CS", value: text("OT") });
    const padded = await walk(Buffer.concat([el, Buffer.alloc(300_000)]));
    assert.deepEqual(padded.problems, []);
    assert.equal(padded.elements, 2);
    const hidden = await walk(Buffer.concat([el, Buffer.alloc(1000), Buffer.from("payload")]));
    assert.equal(hidden.problems[0]?.id, "dicom.trailing-data");
  });

  it("a stray delimiter is a problem", async () => {
    assert.equal((await walk(tag(0xfffe, 0xe00d, 0))).problems[0]?.id, "dicom.bad-delimiter");
  });

  it("finds an executable at the start of an element value (implicit VR)", async () => {
    const pe = Buffer.alloc(256);
    pe.write("MZ", 0, "latin1");
    pe.writeUInt32LE(0x80, 0x3c);
    pe.write("PE\0\0", 0x80, "latin1");
    const w = await walk(Buffer.concat([tag(0x0009, 0x1010, pe.length), pe]), TS_IMPLICIT_LE);
    assert.deepEqual(w.executables.map((x) => [x.tag, x.kind]), [["(0009,1010)", "pe"]]);
  });
});
