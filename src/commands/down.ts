// `farmhand down [SCRIPT | --farm NAME]`: stops the farm's controller, removes every VM of the farm
// (damaged ones too, each named first), then forgets the farm. Exits 1, naming what is left and why,
// when something could not be removed; a farm that does not exist is an error, not a success.

import { openFarm } from "../../control/farm/open-farm.ts";
import { farmDir, farmhandHome } from "../../control/state/home.ts";
import { readFarmRecord, recordedFarms, removeFarmFolder } from "../../control/state/farm-records.ts";
import { fileSecrets } from "../../control/state/secrets.ts";
import { driverFor, farmNameOf, progress, warnDamaged, type FarmArgs } from "./farm-common.ts";
import { stopController } from "./up.ts";

export async function runDown(args: FarmArgs): Promise<number> {
  const home = farmhandHome();
  const name = farmNameOf(args, home);
  const driver = driverFor(name, args, home);
  try {
    const before = await driver.list({ farm: name });
    if (before.length === 0 && readFarmRecord(name, home) === null) {
      const farms = recordedFarms(home);
      process.stderr.write(`farmhand down: there is no farm ${name}${farms.length === 0 ? "" : ` (farms: ${farms.join(", ")})`}\n`);
      return 1;
    }
    await stopController(name, home);
    warnDamaged("down", before);
    progress(`removing farm ${name} (${before.length} VM${before.length === 1 ? "" : "s"})`);
    const farm = await openFarm(driver, { name, secrets: fileSecrets(name, farmDir(name, home)), watch: false });
    const failure = await farm.teardown().then(() => null, (error: unknown) => (error as Error).message);
    if (failure !== null) {
      // A removal that failed once may go through now that the others are done; what still stays is named.
      const problems: string[] = [];
      for (const r of await driver.list({ farm: name })) {
        await driver.destroy(r.id).catch((error: unknown) => problems.push((error as Error).message));
      }
      if (problems.length > 0) {
        for (const problem of problems) process.stderr.write(`farmhand down: ${problem}\n`);
        progress(`farm ${name} is NOT wholly removed (see above); run farmhand down again once that is fixed`);
        return 1;
      }
    }
    removeFarmFolder(name, home);
    progress(`farm ${name} removed`);
    return 0;
  } finally {
    await driver.close();
  }
}
