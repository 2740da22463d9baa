import assert from "node:assert/strict";
import { mkdir, mkdtemp, open, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { loadConfig } from "../../app/config.ts";
import { FILE_KINDS } from "../../app/verdict/file-kind.ts";
import type { ScanContext } from "../../app/scan/scanner.ts";
import { ValidationScanner } from "../../app/engines/validation/validation-scanner.ts";
import type { Tier } from "../../app/verdict/tiers.ts";
import { inspectDicom } from "../../app/engines/validation/dicom-inspector.ts";
import { FileWindow } from "../../app/engines/validation/file-window.ts";
import { deflateBombDicom } from "../fixtures/adversarial.ts";
import { BASIC_ELEMENTS, explicitLe, text } from "../fixtures/dicom.ts";

/** A Part 10 file whose transfer syntax element is declared UN and holds `value` (a long UN value is 4-byte length). */
function dicomWithSyntaxValue(value: Buffer): Buffer {
  const meta = Buffer.concat([
    explicitLe({ group: 2, element: 1, vr: "OB", value: Buffer.from([0, 1]) }),
    explicitLe({ group: 2, element: 2, vr: "UI", value: text("1.2.840.10008.5.1.4.1.1.7") }),
    explicitLe({ group: 2, element: 0x10, vr: "UN", value }),
  ]);
  return Buffer.concat([Buffer.alloc(128), text("DICM"), meta, ...BASIC_ELEMENTS.map(explicitLe)]);
}

describe("DICOM file meta: hostile transfer syntax values", () => {
  const dirs: string[] = [];
  after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
  const inspect = async (data: Buffer) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "msd-meta-"));
    dirs.push(dir);
    const file = path.join(dir, "f.dcm");
    await writeFile(file, data);
    const handle = await open(file, "r");
    try {
      return await inspectDicom({ label: "file", path: file, role: "file" }, new FileWindow(handle.fd, data.length), loadConfig({}).limits, async () => dir, AbortSignal.timeout(30_000));
    } finally {
      await handle.close();
    }
  };

  it("200 KB of spaces as the transfer syntax: refused at once as bad meta, the value not echoed (was 36 s of regex backtracking)", async () => {
    const started = performance.now();
    const r = await inspect(dicomWithSyntaxValue(Buffer.alloc(200 * 1024, 0x20)));
    const ms = performance.now() - started;
    assert.ok(ms < 1000, `${Math.round(ms)} ms`);
    assert.deepEqual(r.issues.map((i) => i.id), ["dicom.bad-meta"]);
    assert.ok(r.issues[0]!.description.length < 200);
  });

  it("a UID padded with NUL and spaces is read without its padding", async () => {
    const r = await inspect(dicomWithSyntaxValue(Buffer.concat([text("1.2.840.10008.1.2.1"), Buffer.from([0x20, 0, 0x20, 0])])));
    assert.equal(r.transferSyntax, "1.2.840.10008.1.2.1");
  });
});

describe("a deflated dataset counts against the tier's size limit", () => {
  const dirs: string[] = [];
  after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it("11 MiB inflated: over free's 10 MB, not scanned further; within gold's 100 MB, handed on", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "msd-inflate-"));
    dirs.push(dir);
    const file = path.join(dir, "deflated.dcm");
    await writeFile(file, await deflateBombDicom(11 * 1024 * 1024));
    const scanner = new ValidationScanner(FILE_KINDS, loadConfig({}).limits, loadConfig({}).tiers);
    const run = async (tier: Tier) => {
      const work = path.join(dir, tier);
      const ctx: ScanContext = { request: { path: file, tier }, file: { label: "file", path: file, role: "file" }, targets: [], facts: undefined, workDirPath: work, workDir: async () => (await mkdir(work, { recursive: true }), work), signal: new AbortController().signal, progress: () => {} };
      return scanner.scan(ctx);
    };
    const free = await run("free");
    assert.ok(free.findings.some((f) => f.id === "dicom.inflate-limit"));
    assert.deepEqual(free.artifacts, [], "the capped dataset goes to no other engine");
    const gold = await run("gold");
    assert.ok(!gold.findings.some((f) => f.id === "dicom.inflate-limit"));
    assert.deepEqual(gold.artifacts?.map((a) => a.label), ["inflated-dataset"]);
  });
});
