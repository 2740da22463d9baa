/**
 * `npm run generate-test-files [DIR]`: writes the adversarial catalogue (the files the
 * adversarial suite uploads) to DIR (default var/test-files) for manual trials against a
 * running appliance: benign/ and malicious/, and manifest.json with what each file is, the
 * name to upload it under and the verdict the gate must give.
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { adversarialFiles } from "./fixtures/adversarial.ts";
import { ROOT } from "./harness/clamd.ts";

const target = path.resolve(process.argv[2] ?? path.join(ROOT, "var/test-files"));
await rm(target, { recursive: true, force: true });
const manifest = [];
for (const f of adversarialFiles()) {
  const file = path.join(f.malicious ? "malicious" : "benign", `${f.id}--${f.fileName}`);
  await mkdir(path.join(target, path.dirname(file)), { recursive: true });
  await writeFile(path.join(target, file), await f.build());
  manifest.push({ file, uploadAs: f.fileName, contentType: f.contentType ?? "application/octet-stream", what: f.what, expect: f.expect });
}
await writeFile(path.join(target, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
console.log(`${manifest.length} files in ${target} (${manifest.filter((m) => m.file.startsWith("malicious")).length} malicious); see manifest.json`);
