import path from "node:path";
import { fileURLToPath } from "node:url";

const moduleDir = path.dirname(fileURLToPath(import.meta.url));
/** The package root (rules, scripts, docker/): source runs from app/, the build from dist/app/. */
export const packageRoot = path.resolve(moduleDir, path.basename(path.dirname(moduleDir)) === "dist" ? "../.." : "..");
