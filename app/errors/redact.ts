/** Settings whose values are secrets: a configuration error names them, never shows them. */
const SECRET_SETTING = /(_KEY|_PASSWORD|_SECRET|_TOKEN)$/;

/** A setting's value as an error message may show it: secrets withheld, credentials cut out of URLs. */
export function showSetting(name: string, value: string | undefined): string {
  if (value === undefined || value === "") return '""';
  if (SECRET_SETTING.test(name)) return `(${value.length} characters, not shown)`;
  return JSON.stringify(value.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/i, "$1***@"));
}

const MAX_MESSAGE_CHARS = 1000;

/**
 * An error message as a client may read it (results, API bodies): absolute paths and network
 * addresses of this installation replaced by placeholders. The server log keeps the original.
 */
export function forClients(message: string): string {
  // Cut first: the patterns below must never run long on a long message.
  return message
    .slice(0, MAX_MESSAGE_CHARS)
    .replace(/(?<![\w.])\/(?:[\w.@+-]+\/)+[\w.@+-]*/g, "<path>")
    .replace(/\[?[0-9a-f:]*::[0-9a-f:]*\]?(?::\d+)?|\b(?:[0-9a-f]{1,4}:){4,7}[0-9a-f]{1,4}\b/gi, "<address>")
    .replace(/\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b/g, "<address>")
    .replace(/\b(ENOTFOUND|EAI_AGAIN) \S+/g, "$1 <address>");
}
