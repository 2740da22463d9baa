import { Appliance } from "./test/harness/appliance.ts";
import { FAST_QUEUE_ENV } from "./test/harness/service-stack.ts";
const a = await Appliance.start({ ...FAST_QUEUE_ENV, CLAMAV_OFFICIAL_DATABASES: "false" });
try {
  const t0 = performance.now();
  const log = (m: string) => console.log(`+${((performance.now() - t0) / 1000).toFixed(1)}s ${m}`);
  console.log((await a.run("scripts/appliance-ctl.sh", ["stop", "clamd"])).output);
  process.kill(await a.pid("scan-daemon"), "SIGKILL");
  log("killed");
  for (let i = 0; i < 60; i++) {
    const r = await fetch(`${a.base}/health`).then((r) => r.status, () => 0);
    if (r === 200) { log("health 200"); break; }
    await new Promise((r) => setTimeout(r, 500));
  }
  console.log((await a.run("scripts/appliance-ctl.sh", ["status"])).output);
  const { readFileSync } = await import("node:fs");
  console.log(readFileSync(`${a.home}/logs/supervisor/scan-daemon.err.log`, "utf8").slice(-3000));
  console.log(readFileSync(`${a.home}/logs/supervisor/scan-daemon.out.log`, "utf8").split("\n").filter((l) => !l.includes('"request"')).slice(-15).join("\n"));
} finally { await a.destroy(); }
