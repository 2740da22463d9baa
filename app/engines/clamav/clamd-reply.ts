export type ClamdVerdict =
  | { readonly kind: "clean" }
  | { readonly kind: "found"; readonly signature: string };

/**
 * Only clamd's exact "NAME: OK" is clean and only "NAME: SIGNATURE FOUND" is a detection, where
 * NAME is "stream" for INSTREAM and the very path sent for SCAN. Everything else (ERROR lines,
 * size-limit replies, "(null) FOUND", several lines as a folder's scan gives, another name,
 * nothing) returns null: the caller must treat it as an engine error, never as clean.
 */
export function parseScanReply(raw: string, name: string): ClamdVerdict | null {
  const reply = withoutTerminator(raw);
  const prefix = `${name}: `;
  if (!reply.startsWith(prefix)) return null;
  const answer = reply.slice(prefix.length);
  if (answer === "OK") return { kind: "clean" };
  const found = /^([^\0\r\n]+) FOUND$/.exec(answer);
  if (found && found[1] !== "(null)" && found[1]!.trim() === found[1]) return { kind: "found", signature: found[1]! };
  return null;
}

export function parseInstreamReply(raw: string): ClamdVerdict | null {
  return parseScanReply(raw, "stream");
}

/**
 * clamd's answer when it may not open a path (its user lacks the permission, or the path is not
 * on its filesystem): "PATH: Access denied. ERROR", "PATH: File path check failure: …. ERROR".
 */
export function isPathRefusal(raw: string, file: string): boolean {
  const reply = withoutTerminator(raw);
  return reply === `${file}: Access denied. ERROR` || (reply.startsWith(`${file}: File path check failure: `) && reply.endsWith(". ERROR") && !reply.includes("\n"));
}

/** clamd ends a z-command's reply with one NUL. */
function withoutTerminator(raw: string): string {
  return raw.endsWith("\0") ? raw.slice(0, -1) : raw;
}

/** clamd VERSION: "ClamAV 1.4.6/27450/Mon Nov 17 09:00:00 2026", or just "ClamAV 1.4.6" without official databases. */
export function parseVersionReply(raw: string): { engine: string; database: string | null } | null {
  const reply = raw.replace(/\0$/, "").trim();
  const m = /^(ClamAV [\w.-]+)(?:\/(\d+)\/(.+))?$/.exec(reply);
  if (!m) return null;
  return { engine: m[1]!, database: m[2] ? `${m[2]}/${m[3]}` : null };
}

/** clamd STATS: the thread pool's size, from "THREADS: live 1  idle 0 max 12 idle-timeout 30". */
export function parseMaxThreads(raw: string): number | null {
  const m = /^THREADS: .*\bmax (\d+)\b/m.exec(raw);
  const max = m ? Number(m[1]) : NaN;
  return max >= 1 ? max : null;
}
