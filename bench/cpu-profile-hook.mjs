// Loaded by `npm run bench:profile` through NODE_OPTIONS=--import into every app process and
// thread (Node 20 refuses --cpu-prof there): profiles from the moment PROFILE_DIR/start exists
// until PROFILE_DIR/stop exists, then writes PROFILE_DIR/<pid>-<thread>.cpuprofile.
import { existsSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import path from "node:path";
import process from "node:process";
import { clearInterval, setInterval } from "node:timers";
import { threadId } from "node:worker_threads";

const dir = process.env.PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  let state = "waiting";
  const timer = setInterval(() => {
    if (state === "waiting" && existsSync(path.join(dir, "start"))) {
      state = "profiling";
      session.post("Profiler.enable", () => session.post("Profiler.setSamplingInterval", { interval: 200 }, () => session.post("Profiler.start")));
    } else if (state === "profiling" && existsSync(path.join(dir, "stop"))) {
      state = "done";
      clearInterval(timer);
      session.post("Profiler.stop", (err, result) => {
        if (!err) writeFileSync(path.join(dir, `${process.pid}-${threadId}.cpuprofile`), JSON.stringify(result.profile));
      });
    }
  }, 200);
  timer.unref();
}
