export type ExecutableKind = "pe" | "elf" | "mach-o" | "script";

/** Bytes to read at a candidate offset to recognise an executable header (PE needs e_lfanew). */
export const EXECUTABLE_PROBE_BYTES = 4096 + 8;

const MACHO_MAGICS = new Set([0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe]);
/** Universal (fat) Mach-O; Java class files share it, and neither belongs in a DICOM preamble. */
const MACHO_FAT_MAGIC = 0xcafebabe;

/**
 * The executable format whose header starts at `offset` of `buf`. A PE is an MZ header whose
 * e_lfanew points at "PE\0\0": a bare "MZ" is two common bytes and would flag ordinary data.
 * `#!` counts only where a script interpreter path follows.
 */
export function executableAt(buf: Buffer, offset = 0): ExecutableKind | null {
  const left = buf.length - offset;
  if (left < 4) return null;
  const b0 = buf[offset]!;
  const b1 = buf[offset + 1]!;
  if (b0 === 0x4d && b1 === 0x5a && left >= 0x40) {
    const lfanew = buf.readUInt32LE(offset + 0x3c);
    if (lfanew >= 0x40 && lfanew + 4 <= left && buf.readUInt32BE(offset + lfanew) === 0x50450000) return "pe";
    return null;
  }
  if (buf.readUInt32BE(offset) === 0x7f454c46) {
    const cls = buf[offset + 4];
    const data = buf[offset + 5];
    return left >= 6 && (cls === 1 || cls === 2) && (data === 1 || data === 2) ? "elf" : null;
  }
  if (MACHO_MAGICS.has(buf.readUInt32BE(offset))) return plausibleMachO(buf, offset) ? "mach-o" : null;
  if (b0 === 0x23 && b1 === 0x21) {
    return /^#! ?\/[\w./-]+/.test(buf.toString("latin1", offset, offset + Math.min(left, 64))) ? "script" : null;
  }
  return null;
}

const MACHO_CPUS = new Set([7, 12, 18, 0x01000007, 0x0100000c, 0x01000012]);

/** Four magic bytes turn up in compressed pixel data; a real header also names a known CPU and file type. */
function plausibleMachO(buf: Buffer, offset: number): boolean {
  if (buf.length - offset < 28) return false;
  const le = buf[offset] === 0xce || buf[offset] === 0xcf;
  const u32 = (at: number) => (le ? buf.readUInt32LE(offset + at) : buf.readUInt32BE(offset + at));
  const fileType = u32(12);
  return MACHO_CPUS.has(u32(4)) && fileType >= 1 && fileType <= 12 && u32(16) > 0 && u32(16) < 1024;
}

/**
 * Preamble check (CVE-2019-11687): any executable signature at offset 0, even a bare MZ or a
 * Mach-O magic with no load commands, since DICM at 128 proves the file is meant to be parsed twice.
 */
export function preambleExecutable(head: Buffer): ExecutableKind | null {
  if (head.length < 4) return null;
  if (head[0] === 0x4d && head[1] === 0x5a) return "pe";
  if (head[0] === 0x23 && head[1] === 0x21) return "script";
  const magic = head.readUInt32BE(0);
  if (MACHO_MAGICS.has(magic) || magic === MACHO_FAT_MAGIC) return "mach-o";
  return executableAt(head, 0);
}

/**
 * Size of the PE image on disk from its section table (headers plus the furthest section),
 * so the image can be cut out whole for the engines. Null when the headers do not add up.
 */
export function peImageSize(buf: Buffer, offset: number): number | null {
  const lfanew = buf.readUInt32LE(offset + 0x3c);
  const coff = offset + lfanew + 4;
  if (coff + 20 > buf.length) return null;
  const sections = buf.readUInt16LE(coff + 2);
  const optionalSize = buf.readUInt16LE(coff + 16);
  const optional = coff + 20;
  if (optional + 64 > buf.length) return null;
  let end = buf.readUInt32LE(optional + 60);
  const table = optional + optionalSize;
  for (let i = 0; i < sections; i++) {
    const s = table + i * 40;
    if (s + 40 > buf.length) return null;
    end = Math.max(end, buf.readUInt32LE(s + 20) + buf.readUInt32LE(s + 16));
  }
  return end > 0 ? end : null;
}
