/**
 * `npm run bench:floor`: the app beside its floor (bench/floor/gate.ts: the same stack doing the
 * least a durable, queued, two-program gate must do per upload) and, with BENCH_PEER_DIR, the
 * usual Node ClamAV REST wrapper (bench/peer.ts), all loaded together on one clamd, 8 clients
 * each, every upload a distinct 39 KB DICOM with `?wait` (the app's at the free tier). The CPU
 * per upload of each side's programs is read from /proc over the same windows, so the machine's
 * drift hits every side alike. What the app spends above the floor is what its guarantees and
 * engines add; the floor is what no change to the app's own code can remove.
 *
 * BENCH_WINDOWS as in `npm run bench:ab` (default `40:400,1300:800`), counted by the slowest side.
 * BENCH_FLOOR_STEPS (default `gate`) adds the floor's lower steps as sides of their own, e.g.
 * `http,receive,gate`: what Node's HTTP server alone, then Koa and koa-body storing the file,
 * cost per upload on the same machine at the same moment.
 */
import { randomBytes } from "node:crypto";
import { Appliance } from "../test/harness/appliance.ts";
import { isFloorStep, startFloor, type Floor, type FloorStep } from "./floor/start.ts";
import { cleanVerdict, dicomOf, loadTogether, loadWindows, uploader, type LoadedSide, type UploadAnswer } from "./load.ts";
import { PEER_FIELD, PEER_PATH, startPeer, type Peer } from "./peer.ts";

const windows = loadWindows();
const steps = (process.env.BENCH_FLOOR_STEPS ?? "gate").split(",");
if (!steps.includes("gate") || !steps.every(isFloorStep)) throw new Error("BENCH_FLOOR_STEPS: a list of http, receive and gate that holds gate");
const appliance = await Appliance.start({ CLAMAV_OFFICIAL_DATABASES: "false", TIER_FREE_FILES_PER_DAY: "1000000" });
const appClient = uploader(appliance.base);
const floors: Floor[] = [];
/** The sides whose uploads clamd never scans (the floor's lower steps). */
const unscanned = new Set<string>();
let peer: Peer | undefined;
let peerClient: ReturnType<typeof uploader> | undefined;
const pixels = randomBytes(39 * 1024);

/** A side whose upload throws unless `clean` holds for its answer. */
function side(name: string, pids: readonly number[], send: (data: Buffer) => Promise<UploadAnswer>, clean = cleanVerdict): LoadedSide {
  return {
    name,
    pids,
    upload: async () => {
      const answer = await send(dicomOf(39 * 1024, pixels));
      if (!clean(answer)) throw new Error(`${name}: upload ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`);
    },
  };
}

try {
  const { key } = await appliance.key("floor-bench", "free");
  const sides = [side("app", Object.values(await appliance.appPids()), (d) => appClient.upload(key, d))];
  for (const step of ["gate", ...steps.filter((s) => s !== "gate")] as FloorStep[]) {
    const floor = await startFloor(appliance, step);
    floors.push(floor);
    const name = step === "gate" ? "floor" : `floor's ${step} step`;
    if (step !== "gate") unscanned.add(name);
    sides.push(side(name, floor.pids, (d) => floor.upload(d)));
  }
  if (process.env.BENCH_PEER_DIR) {
    const wrapper = await startPeer(process.env.BENCH_PEER_DIR, Number(appliance.env.CLAMAV_PORT));
    peer = wrapper;
    const client = uploader(wrapper.base, { path: PEER_PATH, field: PEER_FIELD });
    peerClient = client;
    const peerClean = ({ status, body }: UploadAnswer) => status === 200 && (body as { data?: { result?: { is_infected: boolean }[] } }).data?.result?.[0]?.is_infected === false;
    sides.push(side(`wrapper (clamav-rest-api ${wrapper.commit})`, [wrapper.pid], (d) => client.upload(undefined, d), peerClean));
  }
  const clamd = await appliance.pid("clamd");
  await loadTogether(
    sides,
    windows,
    (after, lines, [clamdSeconds]) => {
      const out = lines.map(({ msPerUpload, ...line }) => ({ ...line, cpuMs: Math.round(msPerUpload.reduce((a, b) => a + b, 0) * 100) / 100, perProgramMs: msPerUpload }));
      const scans = out.filter((l) => !unscanned.has(l.side)).reduce((sum, l) => sum + l.uploads, 0);
      console.log(JSON.stringify({ after, sides: out, clamdMsPerScan: Math.round((clamdSeconds! * 1000 * 100) / scans) / 100, appOverFloor: Math.round((out[0]!.cpuMs / out[1]!.cpuMs) * 100) / 100 }));
    },
    [clamd],
  );
} finally {
  appClient.close();
  peerClient?.close();
  await peer?.close();
  await Promise.all(floors.map((f) => f.close()));
  await appliance.destroy();
}
