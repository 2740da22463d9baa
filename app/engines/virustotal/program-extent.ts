import type { FileHandle } from "node:fs/promises";

/** At most this many section or segment headers are read; a real program has far fewer. */
const MAX_HEADERS = 1024;

/**
 * Where a PE or ELF program's declared contents end: its headers, sections and segments (and a
 * PE's certificate table). Bytes past that point are an overlay, where self-extracting archives
 * and installers keep their payload. Null when the headers do not parse.
 */
export async function programExtent(fh: FileHandle, kind: "pe" | "elf", size: number): Promise<number | null> {
  const read = async (at: number, length: number): Promise<Buffer | null> => {
    if (at < 0 || length < 0 || at + length > size) return null;
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, at);
    return bytesRead === length ? buf : null;
  };
  return kind === "pe" ? peExtent(read) : elfExtent(read);
}

type Read = (at: number, length: number) => Promise<Buffer | null>;

async function peExtent(read: Read): Promise<number | null> {
  const dos = await read(0, 0x40);
  if (!dos) return null;
  const pe = dos.readUInt32LE(0x3c);
  const coff = await read(pe, 24);
  if (!coff || coff.readUInt32BE(0) !== 0x50450000) return null;
  const sections = coff.readUInt16LE(6);
  const optionalSize = coff.readUInt16LE(20);
  const optional = await read(pe + 24, optionalSize);
  if (!optional || optionalSize < 2 || sections > MAX_HEADERS) return null;
  const table = await read(pe + 24 + optionalSize, sections * 40);
  if (!table) return null;
  let end = pe + 24 + optionalSize + sections * 40;
  for (let i = 0; i < sections; i++) end = Math.max(end, table.readUInt32LE(i * 40 + 20) + table.readUInt32LE(i * 40 + 16));
  // The certificate table (data directory 4) is the one thing a signed program keeps past its sections.
  const directories = optional.readUInt16LE(0) === 0x20b ? 112 : 96;
  if (optionalSize >= directories + 5 * 8) {
    const offset = optional.readUInt32LE(directories + 4 * 8);
    const length = optional.readUInt32LE(directories + 4 * 8 + 4);
    if (length > 0 && offset >= end) end = offset + length;
  }
  return end;
}

async function elfExtent(read: Read): Promise<number | null> {
  const ident = await read(0, 64);
  if (!ident) return null;
  const wide = ident[4] === 2;
  const le = ident[5] === 1;
  const u16 = (b: Buffer, at: number) => (le ? b.readUInt16LE(at) : b.readUInt16BE(at));
  const u32 = (b: Buffer, at: number) => (le ? b.readUInt32LE(at) : b.readUInt32BE(at));
  const word = (b: Buffer, at: number) => (wide ? Number(le ? b.readBigUInt64LE(at) : b.readBigUInt64BE(at)) : u32(b, at));
  const [phoff, shoff] = wide ? [word(ident, 0x20), word(ident, 0x28)] : [word(ident, 0x1c), word(ident, 0x20)];
  const at = wide ? 0x36 : 0x2a;
  const [phentsize, phnum, shentsize, shnum] = [u16(ident, at), u16(ident, at + 2), u16(ident, at + 4), u16(ident, at + 6)];
  if (phnum > MAX_HEADERS || shnum > MAX_HEADERS) return null;
  let end = wide ? 64 : 52;
  if (phnum > 0) {
    const table = await read(phoff, phnum * phentsize);
    if (!table) return null;
    end = Math.max(end, phoff + phnum * phentsize);
    for (let i = 0; i < phnum; i++) {
      const h = i * phentsize;
      end = Math.max(end, wide ? word(table, h + 8) + word(table, h + 0x20) : u32(table, h + 4) + u32(table, h + 0x10));
    }
  }
  if (shnum > 0) {
    const table = await read(shoff, shnum * shentsize);
    if (!table) return null;
    end = Math.max(end, shoff + shnum * shentsize);
    for (let i = 0; i < shnum; i++) {
      const h = i * shentsize;
      const noBits = u32(table, h + 4) === 8;
      if (!noBits) end = Math.max(end, wide ? word(table, h + 0x18) + word(table, h + 0x20) : u32(table, h + 0x10) + u32(table, h + 0x14));
    }
  }
  return end;
}
