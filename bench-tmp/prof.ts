import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
function cpuByProcess(): Map<string, number> {
  const m = new Map<string, number>();
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ").slice(0, 80);
      m.set(`${pid} ${cmd}`, (Number(f[11]) + Number(f[12])) / 100);
      if (cmd.includes("scan-daemon")) {
        for (const tid of readdirSync(`/proc/${pid}/task`)) {
          const ts = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
          const name = ts.slice(ts.indexOf("(") + 1, ts.lastIndexOf(")"));
          const tf = ts.slice(ts.lastIndexOf(")") + 2).split(" ");
          const key = `  ${pid} thread ${tid === pid ? "main" : `other-${tid}`} ${name} (${cmd.includes("worker") ? "worker" : "intake"})`;
          m.set(key, (m.get(key) ?? 0) + (Number(tf[11]) + Number(tf[12])) / 100);
        }
      }
    } catch {}
  }
  return m;
}
import { BASIC_ELEMENTS, buildDicom, text } from "../test/fixtures/dicom.ts";
import { Appliance } from "../test/harness/appliance.ts";
let seq = 0;
const pixels = randomBytes(40000);
const dicom = () => buildDicom({ elements: [...BASIC_ELEMENTS.filter((e) => e.group !== 0x7fe0), { group: 0x0020, element: 0x000d, vr: "UI", value: text(`1.2.826.0.9.${process.pid}.${++seq}`) }, { group: 0x7fe0, element: 0x0010, vr: "OB", value: pixels.subarray(0, 39 * 1024 - 400) }] });
const appliance = await Appliance.start({ CLAMAV_OFFICIAL_DATABASES: "false", ...(process.env.PROF ? { NODE_OPTIONS: "--import /tmp/profstart.mjs" } : {}), ...(process.env.APP_NODE_OPTIONS ? { NODE_OPTIONS: process.env.APP_NODE_OPTIONS } : {}) });
const keys = (await Promise.all(Array.from({ length: 10 }, (_, i) => appliance.key(`p${i}`, "free")))).map((k) => k.key);
let n = 0;
const { execFileSync } = await import("node:child_process");
const redisStats = () => Object.fromEntries(execFileSync("redis-cli", ["-p", appliance.env.REDIS_PORT!, "INFO", "commandstats"], { encoding: "utf8" }).split("\n").filter((l) => l.startsWith("cmdstat_")).map((l) => [l.split(":")[0]!.slice(8), Number(/calls=(\d+)/.exec(l)![1])]));
const r0 = redisStats();
const cpu0 = cpuByProcess();
const t = performance.now();
await Promise.all(Array.from({ length: 8 }, async () => {
  while (n < 480) {
    const key = keys[Math.floor(n++ / 50)]!;
    const form = new FormData();
    form.append("file", new Blob([dicom()]), "a.dcm");
    const res = await fetch(`${appliance.base}/api/medical-files/upload?wait=60`, { method: "POST", body: form, headers: { authorization: `Bearer ${key}` } });
    await res.json();
  }
}));
const cpu1 = cpuByProcess();
const rows = [...cpu1].map(([k, v]) => [k, v - (cpu0.get(k) ?? 0)] as const).filter(([, v]) => v > 0.05).sort((a, b) => b[1] - a[1]);
for (const [k, v] of rows) console.log(`${(v * 1000 / 480).toFixed(2)} ms/upload  ${k}`);
const r1 = redisStats();
for (const [k, v] of Object.entries(r1)) { const d = v - (r0[k] ?? 0); if (d > 0) console.log(`redis ${k}: ${(d / 480).toFixed(2)} per upload`); }
console.log("files/s", (480 / ((performance.now() - t) / 1000)).toFixed(1));
await appliance.destroy();
