/** Shannon entropy in bits per byte (0..8). */
export function shannonEntropy(data: Uint8Array): number {
  if (data.length === 0) return 0;
  const counts = new Uint32Array(256);
  for (const byte of data) counts[byte]!++;
  let bits = 0;
  for (const c of counts) {
    if (c === 0) continue;
    const p = c / data.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}
