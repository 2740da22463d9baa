/**
 * `npm run bench:store`: one appliance's small-file throughput with its store on SQLite (the
 * default) and on PostgreSQL (DATABASE_URL, a server of its own from Debian's package), one
 * after the other in one run on the same machine: 39 KB DICOM, free tier, `?wait`, 8 clients,
 * every upload a distinct file, and the app's CPU per upload from /proc. BENCH_FILES sets the
 * uploads per run (default 400). Prints one JSON object.
 */
import { randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { Appliance } from "../test/harness/appliance.ts";
import { PostgresInstance } from "../test/harness/postgres.ts";
import { dicomOf, uploader } from "./load.ts";
import { appCpuSeconds, run } from "./throughput.ts";

const FILES = Number(process.env.BENCH_FILES ?? 400);
const SMALL = 39 * 1024;
const pixels = randomBytes(SMALL);

const CLK_TCK = 100;

/** CPU seconds of a process and its children that are still running (PostgreSQL's backends). */
async function treeCpuSeconds(pid: number | undefined): Promise<number> {
  if (pid === undefined) return 0;
  let ticks = 0;
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, "utf8").catch(() => "");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(name) === pid || Number(fields[1]) === pid) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / CLK_TCK;
}

async function measure(env: Record<string, string>, database?: PostgresInstance) {
  const appliance = await Appliance.start({ CLAMAV_OFFICIAL_DATABASES: "false", ...env });
  try {
    const keys = (await Promise.all(Array.from({ length: Math.ceil((FILES + 40) / 50) }, (_, i) => appliance.key(`store-bench-${i}`, "free")))).map((k) => k.key);
    let used = 0;
    const client = uploader(appliance.base);
    const uploads = (count: number) => {
      const files = Array.from({ length: count }, () => dicomOf(SMALL, pixels));
      return run(count, 8, async (i) => {
        const { status, body } = await client.upload(keys[Math.floor(used++ / 50)]!, files[i]!);
        if (status !== 200 || body.result?.status !== "clean") throw new Error(`upload: ${status} ${JSON.stringify(body).slice(0, 300)}`);
      });
    };
    try {
      await uploads(40);
      const [cpuBefore, dbBefore] = [await appCpuSeconds(appliance), await treeCpuSeconds(database?.pid)];
      const free8 = await uploads(FILES);
      const perUpload = (seconds: number) => Math.round((seconds * 1000 * 10) / FILES) / 10;
      return { ...free8, cpuMsPerUpload: perUpload((await appCpuSeconds(appliance)) - cpuBefore), postgresCpuMsPerUpload: perUpload((await treeCpuSeconds(database?.pid)) - dbBefore) };
    } finally {
      client.close();
    }
  } finally {
    await appliance.destroy();
  }
}

const sqlite = await measure({});
const postgres = await PostgresInstance.start();
try {
  const onPostgres = await measure({ DATABASE_URL: await postgres.database("bench") }, postgres);
  console.log(JSON.stringify({ files: FILES, sqlite, postgres: onPostgres, postgresToSqlite: Math.round((onPostgres.filesPerSecond / sqlite.filesPerSecond) * 100) / 100 }, null, 2));
} finally {
  await postgres.destroy();
}
