// One schedule of the explorer, run from the start (a JavaScript heap cannot be forked, so a child
// runs its parent's steps again: they are deterministic, and cost a fraction of what follows).
//
// Between turns after its last failure the run looks at its state, at each of its steps: a turn that
// changed the state with time left out (fingerprint.ts, stepKey); a turn in which only time passed is
// no place for a failure of its own. At a step, a state already explored with as many failures left
// ends the run (pruned); a new one is a branch, where the next level places a failure or a teardown.
// The run ends at a violation, or at its horizon (then the farm is torn down and what is left is
// checked).

import type { FarmScript } from "../../farm/script.ts";
import { DemandTrace } from "../demand.ts";
import { sameStep } from "../fingerprint.ts";
import { runSimulation, type RunView } from "../simulation.ts";
import type { SeenStates } from "./seen.ts";
import type { Branch, Child, RunReport, VerifyConfig } from "./types.ts";

/** How long a run may last in virtual time, whatever happens: a safety net past the horizon. */
const CAP_MS = 24 * 3600_000;

export async function runChild(script: FarmScript, config: VerifyConfig, child: Child, seen: SeenStates, branching: boolean): Promise<RunReport> {
  const last = child.faults.at(-1);
  const lastTurn = last?.turn ?? -1;
  const budget = config.failures - child.faults.length;
  const branches: Branch[] = [];
  let runningAtLastFault: string[] = [];
  /** When the last failure happened (or, without one, the script ended): the horizon counts from there. */
  let since: number | null = null;
  let pruned = false;
  let tornDownAt: number | null = null;
  let end = { at: 0, turn: 0 };

  /** The state at the turn before, time left out: a turn that leaves it as it was is no step. */
  let before: readonly string[] | null = null;

  const observe = (run: RunView): "stop" | "teardown" | void => {
    end = { at: run.now, turn: run.turn };
    if (run.violations.length > 0) return "stop";
    if (run.turn < lastTurn) return;
    if (run.turn === lastTurn) {
      since = run.now;
      runningAtLastFault = run.running();
      return;
    }
    if (child.teardownTurn !== null) return;
    if (since === null && last === undefined && run.scripted) since = run.now;
    const key = run.stepKey();
    if (!sameStep(before, key)) {
      before = key;
      const digest = run.fingerprint().slice(0, 16);
      if (seen.covers(digest, budget)) {
        pruned = true;
        // The base run has no earlier run to have torn down from its states: it tears down where it starts to repeat.
        if (last === undefined && run.scripted) {
          tornDownAt = run.turn;
          return "teardown";
        }
        return "stop";
      }
      seen.add(digest, budget);
      if (branching) branches.push({ turn: run.turn, digest, running: run.running(), scripted: run.scripted });
    }
    if (since !== null && run.scripted && run.now - since >= config.horizonMs) {
      tornDownAt = run.turn;
      return "teardown";
    }
  };

  const result = await runSimulation(script, {
    farm: config.farm,
    seed: config.seed,
    durationMs: CAP_MS,
    boundMs: config.boundMs,
    demand: config.demand === null ? null : new DemandTrace(config.demand.map(([t, rps]) => ({ at: t * 1000, rps }))),
    faults: child.faults.map((p) => ({ vm: p.vm, kind: "crash" as const, turn: p.turn })),
    teardownAtTurn: child.teardownTurn ?? undefined,
    reconciler: config.reconciler,
    bootMs: config.world.bootMs,
    stopMs: config.world.stopMs,
    jitter: config.world.jitter,
    observe,
  });
  // A process of the simulator that failed is a bug of the simulator or the reconciler, not a finding about the farm.
  const crashed = result.crashedProcesses[0];
  if (crashed !== undefined) throw new Error(`verify: a process of the simulation failed (failures ${JSON.stringify(child.faults)}): ${crashed.name}: ${crashed.error}`);
  const violation = result.violations[0] ?? null;
  if (child.teardownTurn !== null) tornDownAt = child.teardownTurn;
  return { child, violation, endedAt: end.at, endTurn: end.turn, tornDownAt, pruned, branches, runningAtLastFault };
}
