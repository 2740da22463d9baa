import { randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import http from "node:http";
import { BASIC_ELEMENTS, buildDicom, text } from "../test/fixtures/dicom.ts";
import type { Appliance } from "../test/harness/appliance.ts";

let seq = 0;
/** A DICOM of about `bytes` with random pixel data (like compressed images) and a UID of its own, so no result comes from the cache. */
export function dicomOf(bytes: number, pixels: Buffer): Buffer {
  const uid = { group: 0x0020, element: 0x000d, vr: "UI", value: text(`1.2.826.0.5.${process.pid}.${++seq}`) };
  return buildDicom({ elements: [...BASIC_ELEMENTS.filter((e) => e.group !== 0x7fe0), uid, { group: 0x7fe0, element: 0x0010, vr: "OB", value: pixels.subarray(0, bytes - 400) }] });
}

export const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

/** `count` jobs over `clients` loops that run them back to back: how long it all took, and each job's latency, sorted. */
export async function drive(count: number, clients: number, job: (i: number) => Promise<void>): Promise<{ seconds: number; latencies: number[] }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < count) {
        const i = next++;
        const t = performance.now();
        await job(i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { seconds: (performance.now() - started) / 1000, latencies: latencies.sort((a, b) => a - b) };
}

export interface UploadAnswer {
  readonly status: number;
  readonly body: { result?: { status: string } } & Record<string, unknown>;
}

/** The gate's answer to `?wait` with a clean verdict (the app's and the floor's alike). */
export const cleanVerdict = ({ status, body }: UploadAnswer) => status === 200 && body.result?.status === "clean";

/**
 * Multipart uploads with `?wait=120` over kept-alive connections, each body written from
 * buffers built in one go: a client light enough (about 1 ms of CPU per small upload, where
 * fetch with FormData took 4) that the load generator, on the same cores, is not what a run
 * measures. One per run of clients; `close` drops its connections. `target`: another server's
 * upload route and field (the peer wrapper's), sent without a key when `key` is undefined.
 */
export function uploader(base: string, target: { path: string; field: string } = { path: "/api/medical-files/upload?wait=120", field: "file" }) {
  const agent = new http.Agent({ keepAlive: true });
  const url = new URL(target.path, base);
  const upload = (key: string | undefined, data: Buffer, name = "IM0001.dcm") =>
    new Promise<UploadAnswer>((resolve, reject) => {
      const boundary = `----msd-bench-${randomBytes(8).toString("hex")}`;
      const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${target.field}"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n`);
      const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
      const req = http.request(url, { method: "POST", agent, headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), "content-type": `multipart/form-data; boundary=${boundary}`, "content-length": head.length + data.length + tail.length } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as UploadAnswer["body"] });
          } catch (err) {
            reject(err as Error);
          }
        });
        res.on("error", reject);
      });
      req.on("error", reject);
      req.cork();
      req.write(head);
      req.write(data);
      req.end(tail);
    });
  return { upload, close: () => agent.destroy() };
}

const CLK_TCK = 100;

/** User and system CPU seconds in a /proc `stat` file (a process's, its threads' included, or one thread's). */
async function statCpu(file: string): Promise<{ user: number; system: number }> {
  const stat = await readFile(file, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { user: Number(fields[11]) / CLK_TCK, system: Number(fields[12]) / CLK_TCK };
}

/** User + system CPU seconds of a process and its threads, from /proc. */
export async function processCpuSeconds(pid: number): Promise<number> {
  const { user, system } = await statCpu(`/proc/${pid}/stat`);
  return user + system;
}

/** User and system CPU seconds of each thread of a process, by thread id; one that ends between the listing and the read is left out. */
export async function threadCpuSeconds(pid: number): Promise<{ tid: number; user: number; system: number }[]> {
  const read = (tid: string) => statCpu(`/proc/${pid}/task/${tid}/stat`).then((cpu) => [{ tid: Number(tid), ...cpu }], () => []);
  return (await Promise.all((await readdir(`/proc/${pid}/task`)).map(read))).flat().sort((a, b) => a.tid - b.tid);
}

/**
 * The small-file load of `bench:profile` and `bench:cpu`: one upload of a distinct 39 KB
 * DICOM at the free tier, expected clean, each time it is called, under free-tier keys made
 * here for `count` uploads (50 a key, the tier's daily limit).
 */
export async function smallFreeUploads(appliance: Pick<Appliance, "key">, client: Pick<ReturnType<typeof uploader>, "upload">, count: number, keyPrefix: string): Promise<() => Promise<void>> {
  const keys = await Promise.all(Array.from({ length: Math.ceil(count / 50) }, (_, i) => appliance.key(`${keyPrefix}-${i}`, "free")));
  const pixels = randomBytes(39 * 1024);
  let used = 0;
  return async () => {
    const { status, body } = await client.upload(keys[Math.floor(used++ / 50)]!.key, dicomOf(39 * 1024, pixels));
    if (status !== 200 || body.result?.status !== "clean") throw new Error(`upload: ${status} ${JSON.stringify(body).slice(0, 300)}`);
  };
}

/** A stretch of a side-by-side load: from the moment every side has taken `after` uploads until every side has taken `count` more. */
export interface LoadWindow {
  readonly after: number;
  readonly count: number;
}

/** BENCH_WINDOWS as `after:count,…` (default: the cold line of `npm run bench:throughput`, then once warm). */
export function loadWindows(spec = process.env.BENCH_WINDOWS ?? "40:400,1300:800"): LoadWindow[] {
  return spec.split(",").map((w) => {
    const [after, count] = w.split(":").map(Number);
    if (!(after! >= 0 && count! > 0)) throw new Error(`BENCH_WINDOWS: ${w} is not after:count`);
    return { after: after!, count: count! };
  });
}

export interface LoadedSide {
  readonly name: string;
  /** The processes whose CPU counts for this side, in the order the window's `msPerUpload` gives them. */
  readonly pids: readonly number[];
  /** One upload, which throws unless it came back clean. */
  readonly upload: () => Promise<void>;
}

export interface WindowLine {
  readonly side: string;
  readonly uploads: number;
  readonly filesPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** CPU per upload of each of the side's `pids`, in ms. */
  readonly msPerUpload: number[];
}

/**
 * Every side loaded at once by 8 clients of its own, so that a change in the machine's speed hits
 * them alike; for each window, each side's uploads, latencies and CPU per upload from /proc, and
 * the CPU seconds of `sharedPids` (a clamd the sides share) over it. A failed upload stops the
 * whole load and is thrown.
 */
export async function loadTogether(sides: readonly LoadedSide[], windows: readonly LoadWindow[], report: (after: number, lines: WindowLine[], sharedCpuSeconds: number[]) => void, sharedPids: readonly number[] = []): Promise<void> {
  const state = sides.map(() => ({ done: 0, latencies: [] as number[] }));
  let stopped = false;
  const load = Promise.all(
    sides.flatMap((side, i) =>
      Array.from({ length: 8 }, async () => {
        while (!stopped) {
          const started = performance.now();
          await side.upload();
          state[i]!.latencies.push(performance.now() - started);
          state[i]!.done++;
        }
      }),
    ),
  ).finally(() => (stopped = true));
  load.catch(() => undefined);
  const reached = async (n: number) => {
    while (Math.min(...state.map((s) => s.done)) < n) await Promise.race([new Promise((r) => setTimeout(r, 20)), load]);
  };
  const cpu = (pids: readonly number[]) => Promise.all(pids.map(processCpuSeconds));
  for (const { after, count } of windows) {
    await reached(after);
    const before = await Promise.all(sides.map(async (s, i) => ({ done: state[i]!.done, cpu: await cpu(s.pids) })));
    const sharedBefore = await cpu(sharedPids);
    const startedAt = performance.now();
    await reached(after + count);
    const seconds = (performance.now() - startedAt) / 1000;
    const shared = (await cpu(sharedPids)).map((c, k) => c - sharedBefore[k]!);
    const lines = await Promise.all(
      sides.map(async (s, i) => {
        const n = state[i]!.done - before[i]!.done;
        const latencies = state[i]!.latencies.slice(before[i]!.done, state[i]!.done).sort((a, b) => a - b);
        const msPerUpload = (await cpu(s.pids)).map((c, k) => Math.round(((c - before[i]!.cpu[k]!) * 1000 * 100) / n) / 100);
        return { side: s.name, uploads: n, filesPerSecond: Math.round((n / seconds) * 10) / 10, p50Ms: Math.round(percentile(latencies, 50)), p99Ms: Math.round(percentile(latencies, 99)), msPerUpload };
      }),
    );
    report(after, lines, shared);
  }
  stopped = true;
  await load;
}
