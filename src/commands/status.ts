// `farmhand status [SCRIPT | --farm NAME]` and `farmhand ls`: the farm as the driver and the balancers
// report it, with its controller; and every farm there is.

import { openFarm } from "../../control/farm/open-farm.ts";
import { farmDir, farmhandHome } from "../../control/state/home.ts";
import { controllerAlive, readControllerRecord, readFarmRecord, recordedFarms } from "../../control/state/farm-records.ts";
import { fileSecrets } from "../../control/state/secrets.ts";
import { driverFor, farmNameOf, renderStatus, table, warnDamaged, type FarmArgs } from "./farm-common.ts";

/**
 * Prints the farm's controller, VMs and balancers. A VM whose driver record is damaged shows as
 * "damaged" and gets a warning line on stderr; the exit status is then 1, so that scripts notice,
 * and `farmhand down` (or the next `up`) removes it.
 */
export async function runStatus(args: FarmArgs): Promise<number> {
  const home = farmhandHome();
  const name = farmNameOf(args, home);
  const driver = driverFor(name, args, home);
  try {
    const records = await driver.list({ farm: name });
    const farmRecord = readFarmRecord(name, home);
    if (records.length === 0 && farmRecord === null) {
      process.stderr.write(`farmhand status: there is no farm ${name}\n`);
      return 1;
    }
    const controller = readControllerRecord(name, home);
    const alive = controllerAlive(controller);
    process.stdout.write(`controller: ${alive ? `running (pid ${controller!.pid}, since ${controller!.startedAt})` : "not running (farmhand up resumes healing)"}${controller?.summary ? `; ${controller.summary}` : ""}\n`);
    if (farmRecord !== null) process.stdout.write(`script: ${farmRecord.script} (${farmRecord.driver.kind} driver)\n`);
    const farm = await openFarm(driver, { name, secrets: fileSecrets(name, farmDir(name, home)), watch: false });
    process.stdout.write(renderStatus(name, await farm.status()));
    farm.close();
    return warnDamaged("status", records) > 0 ? 1 : 0;
  } finally {
    await driver.close();
  }
}

/** Every recorded farm: its driver, its VMs, its controller, its script. */
export async function runLs(_args: FarmArgs): Promise<number> {
  const home = farmhandHome();
  const farms = recordedFarms(home);
  if (farms.length === 0) {
    process.stdout.write(`no farms in ${home}\n`);
    return 0;
  }
  const rows: string[][] = [["FARM", "DRIVER", "VMS", "CONTROLLER", "SCRIPT"]];
  for (const name of farms) {
    const record = readFarmRecord(name, home)!;
    const controller = readControllerRecord(name, home);
    let vms = "?";
    const driver = driverFor(name, {}, home);
    try {
      const records = await driver.list({ farm: name });
      vms = `${records.filter((r) => r.state === "running").length}/${records.length} running`;
    } catch (error) {
      vms = `? (${(error as Error).message})`;
    } finally {
      await driver.close();
    }
    rows.push([name, record.driver.kind, vms, controllerAlive(controller) ? `running (pid ${controller!.pid})` : "not running", record.script]);
  }
  process.stdout.write(table(rows));
  return 0;
}
