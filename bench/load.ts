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
