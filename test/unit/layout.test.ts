import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { ROOT } from "../harness/clamd.ts";

const APP = path.join(ROOT, "app");
/** A stage folder (engines/<name> each its own), or a file at app/'s top level. */
const unit = (file: string) => {
  const parts = path.relative(APP, file).split(path.sep);
  if (parts[0] === "engines" && parts.length > 2) return `engines/${parts[1]}`;
  return parts[0]!;
};

describe("the code's layout by stage", () => {
  it("no folder imports a folder that imports it back, directly or through others", () => {
    const edges = new Map<string, Map<string, string>>();
    for (const rel of readdirSync(APP, { recursive: true }) as string[]) {
      if (!rel.endsWith(".ts")) continue;
      const file = path.join(APP, rel);
      for (const [, spec] of readFileSync(file, "utf8").matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)) {
        const [from, to] = [unit(file), unit(path.resolve(path.dirname(file), spec!))];
        if (from === to) continue;
        if (!edges.has(from)) edges.set(from, new Map());
        edges.get(from)!.set(to, `${rel} imports ${spec}`);
      }
    }
    // Depth first from every unit; a unit met again on the current path closes a cycle.
    const cycles = new Set<string>();
    const done = new Set<string>();
    const visit = (unit: string, trail: string[]) => {
      const at = trail.indexOf(unit);
      if (at >= 0) {
        const loop = trail.slice(at);
        cycles.add(loop.map((u, i) => edges.get(u)!.get(loop[(i + 1) % loop.length]!)!).join("; "));
        return;
      }
      if (done.has(unit)) return;
      for (const next of edges.get(unit)?.keys() ?? []) visit(next, [...trail, unit]);
      done.add(unit);
    };
    for (const unit of edges.keys()) visit(unit, []);
    assert.deepEqual([...cycles], []);
  });

  it("Bull is private to queue/: no other folder imports it or reaches into a queue's Bull instance", () => {
    const outside = (readdirSync(APP, { recursive: true }) as string[])
      .filter((rel) => rel.endsWith(".ts") && unit(path.join(APP, rel)) !== "queue")
      .filter((rel) => /from\s+["']bull["']|\.bull\b/.test(readFileSync(path.join(APP, rel), "utf8")));
    assert.deepEqual(outside, []);
  });
});

