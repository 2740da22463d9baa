import { readSync } from "node:fs";

const WINDOW = 256 * 1024;

/**
 * Positioned reads over a file through one sliding window, so a walk over a large file stays
 * small in memory. The reads run on the calling thread, an engine thread: a trip through libuv's
 * pool for each window cost more than the read.
 */
export class FileWindow {
  private start = 0;
  private data = Buffer.alloc(0);

  constructor(
    private readonly fd: number,
    readonly size: number,
  ) {}

  /** Up to `length` bytes at `position` (fewer only at the end of the file). */
  read(position: number, length: number): Buffer {
    const end = Math.min(position + length, this.size);
    if (position < this.start || end > this.start + this.data.length) {
      const want = Math.max(WINDOW, end - position);
      const buffer = Buffer.alloc(Math.min(want, this.size - position));
      const bytesRead = readSync(this.fd, buffer, 0, buffer.length, position);
      this.start = position;
      this.data = buffer.subarray(0, bytesRead);
    }
    return this.data.subarray(position - this.start, end - this.start);
  }
}
