const MAX_CHUNK = 256 * 1024;
const MIN_CHUNK = 16 * 1024;

/**
 * The read size for streaming a file of `size` bytes: a stream allocates a whole chunk per
 * read, so a 40 KB upload read with 256 KB chunks costs half a megabyte of short-lived memory
 * and the collections that come with it, on every scan.
 */
export function readChunkBytes(size?: number): number {
  return size === undefined ? MAX_CHUNK : Math.min(MAX_CHUNK, Math.max(MIN_CHUNK, size));
}
