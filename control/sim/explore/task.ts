// One piscina task of the explorer: a slice of a parent's subtree, its children run one after
// another in this thread, sharing the states they see. The script is imported once per thread.

import { loadScript, type FarmScript } from "../../farm/script.ts";
import { runChild } from "./run-one.ts";
import { SeenStates } from "./seen.ts";
import type { ExploreResult, ExploreTask } from "./types.ts";

const scripts = new Map<string, Promise<FarmScript>>();

export async function exploreSlice(task: ExploreTask): Promise<ExploreResult> {
  let script = scripts.get(task.config.script);
  if (script === undefined) scripts.set(task.config.script, (script = loadScript(task.config.script)));
  const seen = new SeenStates(task.seen);
  const reports = [];
  for (const child of task.children) reports.push(await runChild(await script, task.config, child, seen, task.branching));
  return { reports };
}
