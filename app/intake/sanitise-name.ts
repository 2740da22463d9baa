// C0/C1 controls (NUL, CR, LF, ...) and the bidirectional overrides that make "exe.dcm" read as
// "mcd.exe" (U+202A-U+202E, U+2066-U+2069).
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const BIDI = /[\u202a-\u202e\u2066-\u2069]/;
const UNSAFE = new RegExp(`${CONTROL.source}|${BIDI.source}`, "g");
const MAX_BYTES = 255;

/**
 * Why a client's file name is refused, or null. No legitimate export names a file with control
 * characters, bidirectional overrides or folders, and such names attack whatever shows or
 * saves them downstream; a name longer than a file system allows is cut by someone, somewhere.
 */
export function fileNameProblem(name: string): string | null {
  if (CONTROL.test(name)) return "contains a control character (NUL, CR, LF, ...)";
  if (BIDI.test(name)) return "contains a bidirectional override character, which disguises its extension";
  if (/[\\/]/.test(name) || /^[A-Za-z]:/.test(name)) return "contains a folder path; send the file's base name only";
  if (name === "." || name === "..") return "is not a file name";
  if (Buffer.byteLength(name) > MAX_BYTES) return `is longer than ${MAX_BYTES} bytes`;
  return null;
}

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
