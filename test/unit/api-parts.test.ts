import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { bearerToken } from "../../app/api/authenticate.ts";
import { toApiError } from "../../app/api/error-middleware.ts";
import { AuthError } from "../../app/errors/auth-error.ts";
import { SubmitRejectedError } from "../../app/errors/submit-rejected-error.ts";
import { createLogger, ERROR_LOG_FILE, LOG_FILE } from "../../app/log.ts";

describe("API parts", () => {
  it("reads only a well-formed Bearer header", () => {
    assert.equal(bearerToken("Bearer msd_abc"), "msd_abc");
    assert.equal(bearerToken("bearer msd_abc"), "msd_abc");
    for (const bad of [undefined, "", "Basic xyz", "Bearer", "Bearer a b", "Bearer  a"]) assert.equal(bearerToken(bad), undefined, String(bad));
  });

  it("maps errors to one status and code each, and hides what a 500 was about", () => {
    assert.deepEqual([toApiError(new AuthError("REVOKED_API_KEY")).status, toApiError(new AuthError("REVOKED_API_KEY")).code], [401, "INVALID_API_KEY"]);
    const limit = toApiError(new SubmitRejectedError("DAILY_LIMIT", "x", 3600));
    assert.deepEqual([limit.status, limit.headers["Retry-After"]], [429, "3600"]);
    const internal = toApiError(new Error("SQLITE_CORRUPT at /var/data/scan-daemon.sqlite"));
    assert.equal(internal.status, 500);
    assert.ok(!internal.message.includes("SQLITE"));
  });

  it("writes logs to scan-daemon.log and errors also to scan-errors.log", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "msd-logs-"));
    try {
      const log = createLogger("info", dir);
      log.info({ jobId: "j1" }, "verdict");
      log.error({ jobId: "j2" }, "quarantine move failed");
      const all = (await readFile(path.join(dir, LOG_FILE), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { msg: string });
      const errors = (await readFile(path.join(dir, ERROR_LOG_FILE), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { msg: string });
      assert.deepEqual(all.map((l) => l.msg), ["verdict", "quarantine move failed"]);
      assert.deepEqual(errors.map((l) => l.msg), ["quarantine move failed"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
