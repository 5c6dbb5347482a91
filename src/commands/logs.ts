// `farmhand logs [VM] [-f]`: what the farm's controller did, or what a VM printed; with -f, and what
// follows as it comes.

import { existsSync, readFileSync } from "node:fs";
import { farmhandHome } from "../../control/state/home.ts";
import { controllerLog } from "../../control/state/farm-records.ts";
import { driverFor, farmNameOf, untilSignal, type FarmArgs } from "./farm-common.ts";

export async function runLogs(args: FarmArgs & { readonly vm?: string; readonly follow?: boolean }): Promise<number> {
  const home = farmhandHome();
  const name = farmNameOf(args, home);
  let read: () => Promise<string>;
  let close = async () => {};
  if (args.vm === undefined) {
    const file = controllerLog(name, home);
    if (!existsSync(file)) {
      process.stderr.write(`farmhand logs: farm ${name} has no controller log (${file}); its controller runs in the foreground of farmhand up, or never ran\n`);
      return 1;
    }
    read = async () => readFileSync(file, "utf8");
  } else {
    const driver = driverFor(name, args, home);
    close = () => driver.close();
    const [record] = await driver.list({ farm: name, vm: args.vm });
    if (record === undefined) {
      const vms = (await driver.list({ farm: name })).map((r) => r.spec.labels.vm);
      await close();
      process.stderr.write(`farmhand logs: farm ${name} has no VM ${args.vm} (it has ${vms.join(", ") || "none"})\n`);
      return 1;
    }
    read = () => driver.output(record.id);
  }
  let shown = await read();
  process.stdout.write(shown);
  if (args.follow === true) {
    const timer = setInterval(() => {
      void read().then((now) => {
        // The tail slides as the log grows: what is new follows the end of what was shown. A rotated
        // or restarted log, where that end is gone, is shown whole.
        const anchor = shown.slice(-512);
        const at = anchor === "" ? -1 : now.lastIndexOf(anchor);
        const fresh = now.startsWith(shown) ? now.slice(shown.length) : at >= 0 ? now.slice(at + anchor.length) : now;
        if (fresh !== "") process.stdout.write(fresh);
        shown = now;
      });
    }, 500);
    await untilSignal();
    clearInterval(timer);
  }
  await close();
  return 0;
}
