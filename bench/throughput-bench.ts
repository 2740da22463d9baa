/**
 * `npm run bench:throughput`: only the throughput runs of `npm run bench` (bench/throughput.ts),
 * printed as one JSON object, for a quick look while working on the hot path.
 */
import { Appliance } from "../test/harness/appliance.ts";
import { measureThroughput } from "./throughput.ts";

const appliance = await Appliance.start({ CLAMAV_OFFICIAL_DATABASES: "false" });
try {
  console.log(JSON.stringify(await measureThroughput(appliance), null, 2));
} finally {
  await appliance.destroy();
}
