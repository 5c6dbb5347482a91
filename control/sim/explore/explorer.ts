// `farmhand verify`: every placement of up to K VM failures, explored systematically, level by level.
//
// Level 0 is the run with no failure (the script, then the farm on its own for a horizon). Every
// state it reaches at a step (a turn that changed more than the time: run-one.ts) is a place for a
// first failure: each VM that runs there may crash, or the farm may be torn down there. Level L runs the schedules with L failures: each child is its parent's
// schedule and one more crash, at a state the parent reached after its own last failure (or at the
// same turn as it: two VMs failing at once). A run stops when it reaches a state already explored with
// as many failures left (fingerprint.ts), so the explored tree is that of distinct states, not of
// schedules; otherwise it goes on for a horizon after its last failure, and the farm is torn down.
//
// The levels run in order, so the first violation found is one with the fewest failures; among those
// of a level, the earliest is the counterexample. A level's children go out as piscina tasks (each a
// slice of one parent's subtree, of a fixed size, so that what is explored does not depend on how
// many threads explore it); the states each level saw are shared with the next in shared memory.

import { Piscina } from "piscina";
import type { FarmScript } from "../../farm/script.ts";
import type { Violation } from "../invariants.ts";
import type { Schedule } from "../schedule.ts";
import { runChild } from "./run-one.ts";
import { SeenStates, shareSeen } from "./seen.ts";
import type { Child, ExploreResult, ExploreTask, RunReport, VerifyConfig } from "./types.ts";

const WORKER = new URL("./worker.ts", import.meta.url);
/** Children per task: a parent's subtree is cut in slices of this many. */
const SLICE = 6;

export interface VerifyOutcome {
  readonly counterexample: { readonly schedule: Schedule; readonly violation: Violation } | null;
  /** Per level: runs made, and how many stopped at a state already explored. */
  readonly levels: readonly { readonly failures: number; readonly runs: number; readonly pruned: number }[];
  /** Distinct states seen. */
  readonly states: number;
}

export interface VerifyRun {
  readonly config: VerifyConfig;
  /** The script, loaded in this thread (level 0 runs here). */
  readonly script: FarmScript;
  /** Threads exploring levels 1 and up. */
  readonly threads: number;
  readonly onLevel?: (level: { readonly failures: number; readonly runs: number; readonly pruned: number }) => void;
}

export async function verifyFarm(v: VerifyRun): Promise<VerifyOutcome> {
  const { config } = v;
  const seen = new Map<string, number>();
  const levels: { failures: number; runs: number; pruned: number }[] = [];
  const remember = (reports: readonly RunReport[]) => {
    const kept: RunReport[] = [];
    for (const r of reports) {
      const budget = config.failures - r.child.faults.length;
      // A branch another run (earlier in order) already reached with as much budget is explored from there.
      const branches = r.branches.filter((b) => (seen.get(b.digest) ?? -1) < budget);
      for (const b of branches) seen.set(b.digest, budget);
      kept.push({ ...r, branches });
    }
    return kept;
  };

  // The threads start (and load the script) while this one runs level 0.
  const pool = config.failures === 0 ? null : new Piscina<ExploreTask, ExploreResult>({ filename: WORKER.href, minThreads: v.threads, maxThreads: v.threads, idleTimeout: 1_000 });
  try {
    const base = await runChild(v.script, config, { faults: [], teardownTurn: null }, new SeenStates(shareSeen(new Map())), config.failures > 0);
    levels.push({ failures: 0, runs: 1, pruned: 0 });
    v.onLevel?.(levels[0]);
    if (base.violation !== null) return { counterexample: counterexample(config, base), levels, states: base.branches.length };
    let parents = remember([base]);
    if (pool === null) return { counterexample: null, levels, states: seen.size };
    for (let failures = 1; failures <= config.failures; failures++) {
      const slices = childrenOf(parents, config);
      const shared = shareSeen(seen);
      const results = await Promise.all(slices.map((children) => pool.run({ config, children, seen: shared, branching: failures < config.failures })));
      const reports = results.flatMap((r) => r.reports);
      const level = { failures, runs: reports.length, pruned: reports.filter((r) => r.pruned).length };
      levels.push(level);
      v.onLevel?.(level);
      const found = reports.filter((r) => r.violation !== null).sort(shortestFirst);
      if (found.length > 0) return { counterexample: counterexample(config, found[0]), levels, states: seen.size };
      parents = remember(reports.filter((r) => r.child.teardownTurn === null));
    }
    return { counterexample: null, levels, states: seen.size };
  } finally {
    await pool?.destroy();
  }
}

/**
 * The next level's schedules, in slices: under each parent, a crash of each VM running at each of its
 * branches (and at its last failure's turn, of each VM after it in name order: failures at once), and
 * a teardown at each branch after the script.
 */
function childrenOf(parents: readonly RunReport[], config: VerifyConfig): Child[][] {
  const slices: Child[][] = [];
  for (const p of parents) {
    const children: Child[] = [];
    const last = p.child.faults.at(-1);
    if (last !== undefined) {
      for (const vm of p.runningAtLastFault) if (vm > last.vm) children.push({ faults: [...p.child.faults, { turn: last.turn, vm }], teardownTurn: null });
    }
    for (const b of p.branches) {
      if (p.child.faults.length < config.failures) for (const vm of b.running) children.push({ faults: [...p.child.faults, { turn: b.turn, vm }], teardownTurn: null });
      if (b.scripted) children.push({ faults: p.child.faults, teardownTurn: b.turn });
    }
    for (let i = 0; i < children.length; i += SLICE) slices.push(children.slice(i, i + SLICE));
  }
  return slices;
}

/** Fewest failures, then the earliest violation, then the earliest placements. */
function shortestFirst(a: RunReport, b: RunReport): number {
  return a.child.faults.length - b.child.faults.length
    || a.violation!.at - b.violation!.at
    || compareFaults(a, b);
}

function compareFaults(a: RunReport, b: RunReport): number {
  const key = (r: RunReport) => [...r.child.faults.map((f) => `${String(f.turn).padStart(9, "0")}:${f.vm}`), `t${r.child.teardownTurn ?? ""}`].join(",");
  return key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
}

/** The schedule that plays a report's run again, up to its violation. */
function counterexample(config: VerifyConfig, r: RunReport): { schedule: Schedule; violation: Violation } {
  const violation = r.violation!;
  const teardown = violation.invariant === "teardown" ? r.tornDownAt : null;
  return {
    violation,
    schedule: {
      script: config.script,
      farm: config.farm,
      seed: config.seed,
      durationMs: (teardown === null ? violation.at : r.endedAt) + 1,
      boundMs: config.boundMs,
      world: config.world,
      reconciler: config.reconciler,
      demand: config.demand,
      faults: r.child.faults.map((f) => ({ vm: f.vm, kind: "crash" as const, turn: f.turn })),
      teardownTurn: teardown,
      violation: { invariant: violation.invariant, subject: violation.subject, at: violation.at, message: violation.message },
    },
  };
}
