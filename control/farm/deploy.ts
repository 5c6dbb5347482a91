// A deployment: a script run against a real farm, then everything the farm holds that the script no
// longer asks for removed, and an account of what was done. The same for `up` (in the foreground or
// in a detached controller) and `start`.

import type { Driver } from "../drivers/driver.ts";
import { ScriptFailedError } from "../errors.ts";
import type { FarmEvent } from "./farm.ts";
import { openFarm, type FarmHandle, type FarmOptions } from "./open-farm.ts";
import { loadScript, type ScriptResult } from "./script.ts";

export interface DeploySummary {
  readonly created: readonly string[];
  readonly adopted: readonly string[];
  readonly restarted: readonly string[];
  readonly rewired: readonly string[];
  readonly removed: readonly string[];
}

export interface Deployment {
  readonly farm: FarmHandle;
  readonly result: ScriptResult;
  readonly summary: DeploySummary;
}

export async function deploy(
  script: string,
  driver: Driver,
  options: FarmOptions & { readonly name: string; readonly onEvent?: (event: FarmEvent) => void },
): Promise<Deployment> {
  const run = await loadScript(script);
  const farm = await openFarm(driver, options);
  if (options.onEvent !== undefined) farm.on(options.onEvent);
  let result: ScriptResult;
  try {
    result = await run(farm);
  } catch (error) {
    // Nothing half-made stays behind.
    await farm.teardown().catch(() => {});
    throw new ScriptFailedError(script, error);
  }
  // What an earlier run made and this one no longer asks for goes, as in any declarative deployment.
  const removed = await farm.prune();
  const by = (outcome: string) => [...farm.outcomes()].filter(([, o]) => o === outcome).map(([name]) => name);
  return {
    farm,
    result,
    summary: { created: by("created"), adopted: by("adopted"), restarted: by("restarted"), rewired: by("rewired"), removed },
  };
}

/** "created 7, adopted 0, restarted 0, rewired 0, removed 0". */
export function describeSummary(s: DeploySummary): string {
  return `created ${s.created.length}, adopted ${s.adopted.length}, restarted ${s.restarted.length}, rewired ${s.rewired.length}, removed ${s.removed.length}`;
}
