import { createReadStream } from "node:fs";

export interface JsonProblem {
  readonly id: "validation.json-too-deep" | "validation.json-prototype-key" | "validation.json-malformed";
  readonly description: string;
  readonly offset: number;
}

/** Keys that reach an object's prototype when a JavaScript consumer merges the parsed JSON. */
const PROTOTYPE_KEYS = new Set(["__proto__", "constructor", "prototype"]);
const LONGEST_KEY = Math.max(...[...PROTOTYPE_KEYS].map((k) => k.length));
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const ESCAPED: Readonly<Record<number, string>> = { 0x22: '"', 0x5c: "\\", 0x2f: "/", 0x62: "\b", 0x66: "\f", 0x6e: "\n", 0x72: "\r", 0x74: "\t" };
const CLOSER: Readonly<Record<number, number>> = { 0x7d: 0x7b, 0x5d: 0x5b };

/**
 * Streams a JSON file through a tokenizer that tracks only what a hostile file abuses: nesting
 * deeper than `maxDepth` (recursive parsers downstream run out of stack), keys that pollute
 * prototypes (also when spelled with \u escapes), and brackets or strings left unbalanced.
 * Stops at the first problem. It does not check the rest of the grammar or FHIR's schema.
 */
export async function inspectJson(file: string, maxDepth: number, signal: AbortSignal): Promise<JsonProblem | null> {
  const stack: number[] = [];
  let inString = false;
  let escape = false;
  let unicode = "";
  /** The decoded string being read, while it may still be one of PROTOTYPE_KEYS. */
  let current: string | null = null;
  /** A string just closed that was one of PROTOTYPE_KEYS: a key if a colon follows. */
  let pending: string | null = null;
  let offset = 0;
  const problem = (id: JsonProblem["id"], description: string, at: number): JsonProblem => ({ id, description, offset: at });
  const take = (ch: string) => {
    if (current !== null) current = current.length < LONGEST_KEY ? current + ch : null;
  };

  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024, signal }) as AsyncIterable<Buffer>) {
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (inString) {
        if (unicode) {
          unicode += String.fromCharCode(b);
          if (unicode.length === 5) {
            take(String.fromCharCode(parseInt(unicode.slice(1), 16)));
            unicode = "";
          }
        } else if (escape) {
          escape = false;
          if (b === 0x75) unicode = "u";
          else take(ESCAPED[b] ?? "");
        } else if (b === BACKSLASH) escape = true;
        else if (b === QUOTE) {
          inString = false;
          pending = current !== null && PROTOTYPE_KEYS.has(current) ? current : null;
        } else take(b < 0x80 ? String.fromCharCode(b) : "\u0000");
        continue;
      }
      if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) continue;
      if (pending !== null && b === 0x3a) return problem("validation.json-prototype-key", `the key "${pending}" can pollute the prototype of JavaScript objects`, offset + i);
      pending = null;
      if (b === QUOTE) {
        inString = true;
        current = "";
      } else if (b === 0x7b || b === 0x5b) {
        stack.push(b);
        if (stack.length > maxDepth) return problem("validation.json-too-deep", `objects and arrays nested deeper than ${maxDepth}`, offset + i);
      } else if (b === 0x7d || b === 0x5d) {
        if (stack.pop() !== CLOSER[b]) return problem("validation.json-malformed", "a closing bracket that matches no opening one", offset + i);
      }
    }
    offset += chunk.length;
  }
  if (inString || stack.length > 0) return problem("validation.json-malformed", "the JSON ends inside a string, object or array", offset);
  return null;
}
