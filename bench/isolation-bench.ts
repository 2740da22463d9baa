/**
 * `npm run bench:isolation`: only the isolation run of `npm run bench` (test/harness/isolation-run.ts)
 * on a freshly started appliance, printed as one JSON object.
 */
import { Appliance } from "../test/harness/appliance.ts";
import { measureIsolation } from "../test/harness/isolation-run.ts";

const appliance = await Appliance.start({ CLAMAV_OFFICIAL_DATABASES: "false" });
try {
  console.log(JSON.stringify(await measureIsolation(appliance), null, 2));
} finally {
  await appliance.destroy();
}
