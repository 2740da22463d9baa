#!/usr/bin/env node
import { main } from "./cli/main.ts";

// File writes, fsyncs and every SQLite statement share libuv's pool: with its default 4 threads,
// one 100 MB upload's fsync held up small uploads' commits. Read when the pool first starts.
process.env.UV_THREADPOOL_SIZE ??= "16";

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    console.error(e instanceof Error ? e.stack : e);
    process.exitCode = 2;
  },
);
