import { execFileSync } from "node:child_process";
import { ConfigError } from "../errors/config-error.ts";

/**
 * Operators type `docker compose exec medical-scan-daemon scan-daemon keys create …`, which
 * runs as root, while the daemon runs as APP_USER (the image's `node`). A database, audit log
 * or scratch folder that such a command created as root would be unwritable by the daemon and
 * break every later upload, so a command that writes the app's files first becomes APP_USER.
 * Nothing changes when the caller is not root, or when APP_USER is unset or root itself.
 */
export function becomeAppUser(env: NodeJS.ProcessEnv = process.env): void {
  const user = env.APP_USER;
  if (process.getuid?.() !== 0 || !user || user === "root") return;
  const id = (flag: string) => execFileSync("id", [flag, user], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  let gid: number;
  let groups: number[];
  try {
    gid = Number(id("-g"));
    groups = id("-G").split(/\s+/).map(Number);
  } catch {
    throw new ConfigError([`APP_USER=${JSON.stringify(user)}: no such user; run the command as the daemon's user (docker compose exec -u node …)`]);
  }
  process.setgroups!(groups);
  process.setgid!(gid);
  process.setuid!(user);
}
