import path from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "../config.ts";
import { ConfigError } from "../errors/config-error.ts";
import { NotFoundError } from "../errors/not-found-error.ts";
import { RulesCompileError } from "../errors/rules-compile-error.ts";
import { TIERS } from "../verdict/tiers.ts";
import { scanFile } from "../engines/yara/scan-windows.ts";
import { compileDir } from "../engines/yara/yara-rules.ts";
import { becomeAppUser } from "./app-user.ts";
import { restartCommand, statusCommand, stopCommand } from "./appliance-commands.ts";
import { scanCommand } from "./scan-command.ts";
import { quarantineCommand, queueCommand, startCommand } from "./service-commands.ts";
import { auditCommand, keysCommand } from "./store-commands.ts";

const HELP = `scan-daemon — security gate for medical files

Usage:
  scan-daemon start [--role all|intake|worker]    in the foreground: the HTTP/WebSocket API and intake, the scan worker with reconciler
                                                  and housekeeping, or both (default); the appliance runs an intake and a worker
  scan-daemon status                              the appliance's programs (supervisord) and its health check
                                                  exit 0 healthy, 1 something broken, 3 no appliance running
  scan-daemon stop                                stop the appliance (every program, then supervisord) and wait until it has
                                                  exit 0 stopped or nothing running, 1 it did not stop
  scan-daemon restart [PROGRAM...]                restart the app (default) or the named programs (clamd, freshclam, all)
                                                  exit 0 restarted, 1 a program did not start, 2 no such program, 3 no appliance
  scan-daemon keys create --user ID --tier T [--admin]   a new API key (printed once, as the last line)
  scan-daemon keys list | revoke KEY_ID
  scan-daemon audit verify                        check the audit table and logs/scan-audit.log, line by line
  scan-daemon queue failed | counts               the dead-letter list (jobs Bull gave up on) | job counts
  scan-daemon queue retry JOB_ID... | --all       re-drive failed jobs as new jobs for the same files
  scan-daemon quarantine list | release ID | delete ID | purge [--days N]
  scan-daemon scan PATH... [--tier T] [--concurrency N] [--json]
                                                  scan local files and study folders (recursively) through the pipeline (clamd
                                                  from CLAMAV_HOST/CLAMAV_PORT), N at a time (default: clamd's threads); one line
                                                  per file on stdout, a progress bar (on a terminal) and a summary on stderr
                                                  exit 0 all clean, 1 something not clean, 2 an error
  scan-daemon rules test FILE [--rules DIR]       run every YARA rule (basic and advanced) over FILE
  scan-daemon help                                this text (exit 0); an unknown command prints it and exits 2

Tiers: ${TIERS.join(", ")} (default free).
Run as root (docker compose exec), every command but status, stop and restart runs as APP_USER.`;

/** Commands that write the daemon's database, logs or scratch folders; status, stop and restart talk to supervisord as root. */
const WRITES_APP_FILES = new Set(["start", "keys", "audit", "queue", "quarantine", "scan"]);

export async function main(argv: string[], out: (line: string) => void = console.log, err: (line: string) => void = console.error): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command && WRITES_APP_FILES.has(command)) becomeAppUser();
    switch (command) {
      case "start":
        return await startCommand(rest, out, err);
      case "status":
        return statusCommand(out, err);
      case "stop":
        return await stopCommand(out, err);
      case "restart":
        return restartCommand(rest, out, err);
      case "keys":
        return await keysCommand(rest, out, err);
      case "audit":
        return await auditCommand(rest, out, err);
      case "queue":
        return await queueCommand(rest, out, err);
      case "quarantine":
        return await quarantineCommand(rest, out, err);
      case "scan":
        return await scanCommand(rest, { out, err, terminal: process.stderr.isTTY ? process.stderr : undefined });
      case "rules":
        return await rulesCommand(rest, out, err);
      case undefined:
      case "help":
      case "--help":
        out(HELP);
        return 0;
      default:
        err(`unknown command ${JSON.stringify(command)}\n\n${HELP}`);
        return 2;
    }
  } catch (e) {
    if (e instanceof ConfigError || e instanceof RulesCompileError || e instanceof NotFoundError) {
      err(e.message);
      return 2;
    }
    throw e;
  }
}

async function rulesCommand(args: string[], out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { rules: { type: "string" } } });
  if (positionals[0] !== "test" || positionals.length !== 2) {
    err("usage: scan-daemon rules test FILE [--rules DIR]");
    return 2;
  }
  const rules = await compileDir(values.rules ?? loadConfig().yara.rulesDir);
  const matches = await scanFile(rules, path.resolve(positionals[1]!));
  out(`rules ${rules.hash.slice(0, 16)}: ${matches.length} match(es)`);
  for (const m of matches) out(`${m.ruleIdentifier} [${m.tags.join(",")}] ${JSON.stringify(m.meta)}`);
  return matches.length > 0 ? 1 : 0;
}
