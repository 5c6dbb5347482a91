// `farmhand plan SCRIPT`: what `up` would create, adopt, restart, rewire, replace and remove, against
// what exists now, changing nothing (like `terraform plan`, `pulumi preview`). The script runs against
// a farm that only records (control/model/recorder.ts); the reconciler's own rules decide each node.

import { existsSync } from "node:fs";
import path from "node:path";
import { planFarm } from "../../control/model/recorder.ts";
import { loadScript } from "../../control/farm/script.ts";
import { describeChanges, previewChanges, renderChange } from "../../control/reconcile/preview.ts";
import { farmDir, farmhandHome } from "../../control/state/home.ts";
import { fileSecrets, memorySecrets } from "../../control/state/secrets.ts";
import { driverFor, farmNameOf, type FarmArgs } from "./farm-common.ts";
import { runCheck } from "./check.ts";

export async function runPlan(args: FarmArgs & { readonly script: string }): Promise<number> {
  const home = farmhandHome();
  const name = farmNameOf(args, home);
  const driver = driverFor(name, args, home);
  try {
    if ((await runCheck(args.script, { farm: name })) !== 0) return 1;
    const farm = planFarm(name);
    try {
      await (await loadScript(args.script))(farm);
    } catch (error) {
      process.stderr.write(`farmhand plan: ${args.script} failed while planning: ${(error as Error).message}\n`);
      return 1;
    }
    // A farm never deployed has no key yet, and plan makes none: its balancers do not exist either.
    const dir = farmDir(name, home);
    const secrets = existsSync(path.join(dir, "farm.key")) ? fileSecrets(name, dir) : memorySecrets(name);
    const changes = previewChanges(farm.model, await driver.list({ farm: name }), secrets);
    for (const change of changes) process.stdout.write(`${renderChange(change)}\n`);
    process.stdout.write(`plan: farm ${name}: ${describeChanges(changes)}; nothing was changed\n`);
    return 0;
  } finally {
    await driver.close();
  }
}
