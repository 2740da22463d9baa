#!/usr/bin/env node
import { main } from "./cli/main.ts";

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    console.error(e instanceof Error ? e.stack : e);
    process.exitCode = 2;
  },
);
