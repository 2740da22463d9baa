/** A YARA rule file does not compile; the service must not start with a partial rule set. */
export class RulesCompileError extends Error {
  override readonly name = "RulesCompileError";
  readonly code = "RULES_COMPILE";
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    detail: string,
  ) {
    super(`YARA rules do not compile: ${file}${line === undefined ? "" : `:${line}`}: ${detail}`);
  }
}
