import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { instreamFrames } from "../../app/engines/clamav/clamd-client.ts";
import { isPathRefusal, parseInstreamReply, parseScanReply, parseVersionReply } from "../../app/engines/clamav/clamd-reply.ts";

describe("clamd replies", () => {
  it("only the exact 'stream: OK' is clean", () => {
    assert.deepEqual(parseInstreamReply("stream: OK\0"), { kind: "clean" });
    assert.deepEqual(parseInstreamReply("stream: OK"), { kind: "clean" });
    for (const r of ["", "\0", "OK", "stream: OK\n\0", " stream: OK", "stream:  OK", "file: OK\0", "stream: OK\nstream: X FOUND\0", "stream: ok"]) {
      assert.equal(parseInstreamReply(r), null, JSON.stringify(r));
    }
  });
  it("'stream: NAME FOUND' is a detection, '(null) FOUND' and ERROR lines are not answers", () => {
    assert.deepEqual(parseInstreamReply("stream: Eicar-Test-Signature FOUND\0"), { kind: "found", signature: "Eicar-Test-Signature" });
    assert.deepEqual(parseInstreamReply("stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND\0"), { kind: "found", signature: "Heuristics.Limits.Exceeded.MaxFileSize" });
    for (const r of ["stream: (null) FOUND\0", "INSTREAM size limit exceeded. ERROR\0", "stream: lstat() failed ERROR\0", "stream:  FOUND\0", "stream: A FOUND\nstream: B FOUND\0"]) {
      assert.equal(parseInstreamReply(r), null, JSON.stringify(r));
    }
  });
  it("SCAN: only the path sent, then OK or one signature, is an answer", () => {
    const file = "/data/files/f 1";
    assert.deepEqual(parseScanReply(`${file}: OK\0`, file), { kind: "clean" });
    assert.deepEqual(parseScanReply(`${file}: Win.Test.EICAR_HDB-1 FOUND\0`, file), { kind: "found", signature: "Win.Test.EICAR_HDB-1" });
    for (const r of [`stream: OK\0`, `/data/files/f: OK\0`, `${file}/x: OK\0`, `${file}: OK\n${file}: X FOUND\0`, `${file}: Access denied. ERROR\0`, `${file}: (null) FOUND\0`, `${file}:OK`]) {
      assert.equal(parseScanReply(r, file), null, JSON.stringify(r));
    }
  });
  it("SCAN: clamd's refusals to open a path are told apart from every other answer", () => {
    const file = "/data/files/f1";
    assert.ok(isPathRefusal(`${file}: Access denied. ERROR\0`, file));
    assert.ok(isPathRefusal(`${file}: File path check failure: Permission denied. ERROR\0`, file));
    assert.ok(isPathRefusal(`${file}: File path check failure: No such file or directory. ERROR\0`, file));
    for (const r of [`${file}: OK\0`, `${file}: X FOUND\0`, `/other: Access denied. ERROR\0`, `${file}: Can't allocate memory ERROR\0`, `${file}: Access denied. ERROR\n${file}: OK\0`, `${file}: File path check failure: x. ERROR\n${file}: OK. ERROR\0`]) {
      assert.equal(isPathRefusal(r, file), false, JSON.stringify(r));
    }
  });
  it("VERSION with and without official databases", () => {
    assert.deepEqual(parseVersionReply("ClamAV 1.4.6/27450/Mon Nov 17 09:00:00 2026\0"), { engine: "ClamAV 1.4.6", database: "27450/Mon Nov 17 09:00:00 2026" });
    assert.deepEqual(parseVersionReply("ClamAV 1.4.6\n"), { engine: "ClamAV 1.4.6", database: null });
    assert.equal(parseVersionReply("HELLO"), null);
  });
});

describe("INSTREAM framing", () => {
  const frames = async (chunks: Buffer[]) => {
    const out: Buffer[] = [];
    for await (const frame of instreamFrames(Readable.from(chunks))) out.push(frame);
    return out;
  };
  /** Parses a framed stream back into its chunks, as clamd does. */
  const unframe = (wire: Buffer) => {
    assert.equal(wire.subarray(0, 10).toString("latin1"), "zINSTREAM\0");
    const chunks: Buffer[] = [];
    for (let at = 10; ; ) {
      const length = wire.readUInt32BE(at);
      at += 4;
      if (length === 0) {
        assert.equal(at, wire.length, "nothing after the zero length");
        return chunks;
      }
      chunks.push(wire.subarray(at, at + length));
      at += length;
    }
  };

  it("sends a small file, its framing and the end in one write", async () => {
    const file = randomBytes(39 * 1024);
    const out = await frames([file]);
    assert.equal(out.length, 1);
    assert.deepEqual(Buffer.concat(unframe(out[0]!)), file);
  });

  it("keeps every byte of a large file in order, in writes of bounded size, and skips empty chunks", async () => {
    const chunks = [randomBytes(70_000), Buffer.alloc(0), randomBytes(10), randomBytes(200_000), randomBytes(3)];
    const out = await frames(chunks);
    assert.ok(out.length > 1);
    assert.ok(out.includes(chunks[3]!), "a chunk that fills a write is sent as it is, not copied");
    assert.deepEqual(Buffer.concat(unframe(Buffer.concat(out))), Buffer.concat(chunks));
  });

  it("frames an empty source as the command and the end", async () => {
    assert.deepEqual(unframe(Buffer.concat(await frames([]))), []);
  });
});
