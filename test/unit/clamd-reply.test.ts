import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseInstreamReply, parseVersionReply } from "../../app/engines/clamav/clamd-reply.ts";

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
  it("VERSION with and without official databases", () => {
    assert.deepEqual(parseVersionReply("ClamAV 1.4.6/27450/Mon Nov 17 09:00:00 2026\0"), { engine: "ClamAV 1.4.6", database: "27450/Mon Nov 17 09:00:00 2026" });
    assert.deepEqual(parseVersionReply("ClamAV 1.4.6\n"), { engine: "ClamAV 1.4.6", database: null });
    assert.equal(parseVersionReply("HELLO"), null);
  });
});
