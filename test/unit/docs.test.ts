import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { envSchema } from "../../app/config-schema.ts";
import { DEFAULT_TIER_LIMITS, TIER_POLICIES, TIERS } from "../../app/verdict/tiers.ts";
import { ROOT } from "../harness/clamd.ts";

const read = (file: string) => readFileSync(path.join(ROOT, file), "utf8");
const tracked = execFileSync("git", ["ls-files"], { cwd: ROOT, encoding: "utf8" }).trim().split("\n");
const markdown = tracked.filter((f) => f.endsWith(".md"));

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) =>
  heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, "")
    .replace(/ /g, "-");

describe("the project's own docs", () => {
  it("nothing in the repository points at a contract outside it", () => {
    // .ci/run alone calls the CI machine's container check, when that machine has one; this test names the patterns.
    const allowed = new Set([".ci/run", "test/unit/docs.test.ts"]);
    const outside = tracked.filter((f) => !allowed.has(f) && existsSync(path.join(ROOT, f)) && /ARCHITECTURE|\.\.\/shared\//.test(read(f)));
    assert.deepEqual(outside, []);
  });

  it("every relative link of every Markdown file reaches a file, and its anchor a heading", () => {
    const broken: string[] = [];
    for (const file of markdown) {
      for (const [, target] of read(file).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        const [rel, anchor] = target!.split("#");
        const dest = rel ? path.join(path.dirname(file), rel) : file;
        if (!existsSync(path.join(ROOT, dest))) {
          broken.push(`${file}: ${target}`);
          continue;
        }
        if (anchor && dest.endsWith(".md")) {
          const headings = [...read(dest).matchAll(/^#+ (.+)$/gm)].map((m) => slug(m[1]!));
          if (!headings.includes(anchor)) broken.push(`${file}: ${target} (no such heading)`);
        }
      }
    }
    assert.deepEqual(broken, []);
  });

  it("every docs/ page a source comment names exists", () => {
    const named = tracked.filter((f) => /\.(ts|sh)$/.test(f)).flatMap((f) => [...read(f).matchAll(/\bdocs\/[\w-]+\.md\b/g)].map((m) => m[0]));
    assert.ok(named.length > 5);
    for (const page of new Set(named)) assert.ok(existsSync(path.join(ROOT, page)), page);
  });

  it("docs/configuration.md names every variable the configuration reads", () => {
    const names = Object.keys(envSchema.shape);
    assert.ok(names.includes("TIER_FREE_FILES_PER_DAY"));
    assert.ok(names.length > 50);
    const doc = read("docs/configuration.md");
    assert.deepEqual(names.filter((n) => !doc.includes(`\`${n}\``)), []);
  });

  it("docs/tiers.md gives each tier the table's size, daily count and priority", () => {
    const rows = read("docs/tiers.md").split("\n");
    for (const tier of TIERS) {
      const p = { ...TIER_POLICIES[tier], ...DEFAULT_TIER_LIMITS[tier] };
      const row = rows.find((r) => r.startsWith(`| \`${tier}\` |`));
      assert.ok(row, tier);
      const cells = row.split("|").map((c) => c.trim());
      assert.equal(cells[4], `${p.maxFileBytes / 1024 / 1024} MiB`, tier);
      assert.equal(cells[5], p.filesPerDay.toLocaleString("en-US"), tier);
      assert.match(cells[6]!, new RegExp(`^${p.priority} `), tier);
    }
  });

  it("one section names each deliberate difference from the original specification, with its reason", () => {
    const doc = read("docs/differences.md");
    assert.match(doc, /^# Differences from the original specification$/m);
    for (const topic of [/\?wait=N.*\*\*200\*\*/, /VIRUS_SCANNING_ENABLED=false.*\*\*`error`\*\*/, /\*\*`stats` go to admin keys only\*\*/]) assert.match(doc, topic);
    assert.equal(doc.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| the first") && !l.startsWith("|---")).filter((l) => l.split("|").at(-2)!.trim().length < 40).length, 0, "every row gives its reason");
    assert.match(read("README.md"), /\(docs\/differences\.md\)/);
  });
});

