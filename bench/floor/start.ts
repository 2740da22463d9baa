import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Appliance } from "../../test/harness/appliance.ts";
import { freePort } from "../../test/harness/ports.ts";
import { terminate } from "../../test/harness/processes.ts";
import { cleanVerdict, dicomOf, uploader, type UploadAnswer } from "../load.ts";

/** The app's programs' V8 flags (docker/supervisor/supervisord.conf), so that the floor compiles as the app does. */
const V8_FLAGS = ["--max-inlined-bytecode-size=115", "--max-inlined-bytecode-size-cumulative=230"];

/** The whole floor, or one of its lower steps (gate.ts). */
export type FloorStep = "gate" | "receive" | "http";
const PROGRAMS: Record<FloorStep, readonly string[]> = { gate: ["intake", "worker"], receive: ["receive"], http: ["http"] };
export const isFloorStep = (s: string): s is FloorStep => Object.hasOwn(PROGRAMS, s);

export interface Floor {
  /** The step's programs: intake and worker for the gate. */
  readonly pids: readonly number[];
  /** One upload with `?wait`'s answer, sent over kept-alive connections. */
  upload(data: Buffer): Promise<UploadAnswer>;
  close(): Promise<void>;
}

/** The floor's programs (gate.ts) on the appliance's Redis and clamd, answering once one upload has come back clean. */
export async function startFloor(appliance: Pick<Appliance, "env">, step: FloorStep = "gate"): Promise<Floor> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "msd-floor-"));
  const key = randomBytes(24).toString("hex");
  const port = await freePort();
  const env = { ...process.env, FLOOR_DIR: dir, FLOOR_REDIS: `redis://127.0.0.1:${appliance.env.REDIS_PORT}`, FLOOR_CLAMD_PORT: appliance.env.CLAMAV_PORT!, FLOOR_PORT: String(port), FLOOR_KEY: key };
  const children: ChildProcess[] = PROGRAMS[step].map((role) => spawn(process.execPath, [...V8_FLAGS, "--import", "tsx", path.join(import.meta.dirname, "gate.ts"), role], { env, stdio: ["ignore", "inherit", "inherit"] }));
  const client = uploader(`http://127.0.0.1:${port}`, { path: "/upload", field: "file" });
  const floor: Floor = {
    pids: children.map((c) => c.pid!),
    upload: (data) => client.upload(key, data),
    async close() {
      client.close();
      await Promise.all(children.map((c) => terminate(c)));
      await rm(dir, { recursive: true, force: true });
    },
  };
  const probe = dicomOf(39 * 1024, randomBytes(39 * 1024));
  for (let tries = 0; !cleanVerdict(await floor.upload(probe).catch(() => ({ status: 0, body: {} }))); tries++) {
    if (tries > 150) {
      await floor.close();
      throw new Error("the floor (bench/floor/gate.ts) did not start");
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return floor;
}
