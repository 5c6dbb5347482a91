// Where farmhand keeps what it knows, whatever the current directory: one home per user
// ($FARMHAND_HOME, else $XDG_STATE_HOME/farmhand, else ~/.local/state/farmhand), readable by its
// owner only. Each farm has a folder of its own under farms/; the local driver records VMs under
// local/.
//
//   <home>/farms/<farm>/farm.json        which script, which driver, since when
//   <home>/farms/<farm>/farm.key         the farm's secret (balancer admin tokens derive from it)
//   <home>/farms/<farm>/controller.json  the running controller: pid, state, last summary
//   <home>/farms/<farm>/controller.log   what the controller did
//   <home>/local/                        the local driver's VM records and logs

import { chmodSync, mkdirSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const FARM_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function farmhandHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.FARMHAND_HOME !== undefined && env.FARMHAND_HOME !== "") return path.resolve(env.FARMHAND_HOME);
  const state = env.XDG_STATE_HOME !== undefined && env.XDG_STATE_HOME !== "" ? env.XDG_STATE_HOME : path.join(os.homedir(), ".local", "state");
  return path.join(state, "farmhand");
}

/** A farm name is a folder name and a label: lower-case letters, digits and "-". */
export function isFarmName(name: string): boolean {
  return FARM_NAME.test(name);
}

export function farmDir(name: string, home = farmhandHome()): string {
  if (!isFarmName(name)) throw new RangeError(`farm name ${JSON.stringify(name)}: lower-case letters, digits and "-" (at most 63)`);
  return path.join(home, "farms", name);
}

export function farmsDir(home = farmhandHome()): string {
  return path.join(home, "farms");
}

export function localStateDir(home = farmhandHome()): string {
  return path.join(home, "local");
}

/** Makes `dir` (and its parents under the home) if missing, and private: 0700, tightened if it was not. */
export function privateDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if ((statSync(dir).mode & 0o077) !== 0) chmodSync(dir, 0o700);
  return dir;
}
