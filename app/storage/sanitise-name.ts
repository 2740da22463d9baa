// C0/C1 controls (NUL, CR, LF, ...) and the bidirectional overrides that make "exe.dcm" read as
// "mcd.exe" (U+202A-U+202E, U+2066-U+2069).
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
const MAX_BYTES = 255;

/**
 * A client's file name, made safe to store and show: no folders, no control or bidi
 * characters, at most 255 UTF-8 bytes. For display and extension checks only; files on disk
 * are named by id.
 */
export function sanitiseName(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? "";
  let clean = base.replace(UNSAFE, "").trim().replace(/^\.+/, "");
  while (Buffer.byteLength(clean) > MAX_BYTES) clean = clean.slice(0, -1);
  return clean || "unnamed";
}
