import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { create, validate, type RuleMatch, type YaraX } from "@litko/yara-x";
import { RulesCompileError } from "../../errors/rules-compile-error.ts";

export interface CompiledRules {
  readonly engine: YaraX;
  /** SHA-256 over the rule files' names and contents: which rules produced a result. */
  readonly hash: string;
  /** Rules whose condition uses `filesize`: they only mean something over the whole file. */
  readonly wholeFileRules: ReadonlySet<string>;
}

/** The built-in rules and each enterprise tenant's own, compiled once at start. */
export interface YaraRuleBook {
  readonly builtIn: CompiledRules;
  readonly tenants: ReadonlyMap<string, CompiledRules>;
}

const RULE_FILE = /\.(yar|yara)$/;

/**
 * Compiles every rule file in `dir` (and each tenant folder under `customDir`). A file that
 * does not compile stops the start with its path and line: a partial rule set would give
 * clean verdicts the operator never agreed to.
 */
export async function loadRuleBook(dir: string, customDir?: string): Promise<YaraRuleBook> {
  const builtIn = await compileDir(dir);
  const tenants = new Map<string, CompiledRules>();
  if (customDir) {
    for (const entry of await readdir(customDir, { withFileTypes: true })) {
      if (entry.isDirectory()) tenants.set(entry.name, await compileDir(path.join(customDir, entry.name)));
    }
  }
  return { builtIn, tenants };
}

export async function compileDir(dir: string): Promise<CompiledRules> {
  const files = (await readdir(dir)).filter((f) => RULE_FILE.test(f)).sort();
  if (files.length === 0) throw new RulesCompileError(dir, undefined, "no .yar files");
  const engine = create();
  const hash = createHash("sha256");
  const wholeFileRules = new Set<string>();
  for (const name of files) {
    const file = path.join(dir, name);
    const source = await readFile(file, "utf8");
    const { errors } = validate(source);
    const first = errors[0];
    if (first) throw new RulesCompileError(file, lineOf(first.message, first.line), first.message.split("\n")[0]!);
    try {
      engine.addRuleSource(source);
    } catch (err) {
      const message = (err as Error).message;
      throw new RulesCompileError(file, lineOf(message), message.split("\n")[0]!);
    }
    hash.update(`${name}\0${source}\0`);
    for (const rule of rulesUsingFilesize(source)) wholeFileRules.add(rule);
  }
  return { engine, hash: hash.digest("hex"), wholeFileRules };
}

/** Identifiers of the rules in `source` whose body mentions `filesize` (a rule ends at the next rule). */
export function rulesUsingFilesize(source: string): string[] {
  const rules = [...source.matchAll(/^\s*(?:(?:private|global)\s+)*rule\s+([A-Za-z_]\w*)/gm)];
  return rules.filter((m, i) => /\bfilesize\b/.test(source.slice(m.index, rules[i + 1]?.index ?? source.length))).map((m) => m[1]!);
}

function lineOf(message: string, line?: number): number | undefined {
  if (line !== undefined) return line;
  const m = /--> line:(\d+):/.exec(message);
  return m ? Number(m[1]) : undefined;
}

export type { RuleMatch };
