// `farmhand verify SCRIPT --failures K`: every placement of up to K VM failures (which VM, at which
// step of the script and of reconciliation), explored in simulation over piscina threads, the farm's
// invariants checked between every two turns (control/sim/explore/, control/sim/invariants.ts). A
// violation prints the shortest counterexample, its event log, and the schedule that replays it
// (`farmhand simulate SCRIPT --replay FILE`), written to --out.

import { writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import path from "node:path";
import { farmNameFor, loadScript } from "../../control/farm/script.ts";
import { formatDuration } from "../../control/sim/durations.ts";
import { SimFlagError } from "../../control/sim/errors.ts";
import { renderLog, worthPrinting } from "../../control/sim/event-log.ts";
import { verifyFarm } from "../../control/sim/explore/explorer.ts";
import type { VerifyConfig } from "../../control/sim/explore/types.ts";
import { demandOf, scheduleText, type Schedule } from "../../control/sim/schedule.ts";
import { runSimulation } from "../../control/sim/simulation.ts";
import { describeEvent } from "./farm-common.ts";
import { durationOf, isUsageError, seedOf, traceOf } from "./simulate.ts";

export interface VerifyArgs {
  readonly script: string;
  readonly failures: string;
  readonly threads?: string;
  readonly bound?: string;
  readonly trace?: string;
  readonly seed?: string;
  readonly out?: string;
  readonly farm?: string;
}

/** The world verify explores: fixed boot and stop times (the failures are what varies). */
const WORLD = { bootMs: 1_000, stopMs: 200, jitter: 0 };

export async function runVerify(args: VerifyArgs): Promise<number> {
  let config: VerifyConfig;
  let threads: number;
  try {
    ({ config, threads } = configOf(args));
  } catch (error) {
    if (isUsageError(error)) {
      process.stderr.write(`farmhand verify: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const out = args.out ?? "counterexample.json";
  const started = performance.now();
  process.stdout.write(`verify: farm ${config.farm}, up to ${config.failures} failure(s), invariants within ${formatDuration(config.boundMs)}, ${threads} thread(s)\n`);
  const script = await loadScript(args.script);
  const outcome = await verifyFarm({
    config,
    script,
    threads,
    onLevel: (l) => process.stdout.write(`  ${l.failures} failure(s): ${l.runs} run(s)${l.pruned === 0 ? "" : `, ${l.pruned} stopped at a state already explored`}\n`),
  });
  const runs = outcome.levels.reduce((n, l) => n + l.runs, 0);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (outcome.counterexample === null) {
    process.stdout.write(`verify: passed: every placement of up to ${config.failures} failure(s) keeps the invariants (${runs} runs, ${outcome.states} states, ${seconds} s)\n`);
    return 0;
  }
  const { schedule, violation } = outcome.counterexample;
  process.stdout.write(`verify: FAILED after ${runs} runs (${seconds} s): ${violation.invariant}: ${violation.message}\n`);
  process.stdout.write(`counterexample, ${schedule.faults.length} failure(s)${schedule.teardownTurn === null ? "" : `, teardown after turn ${schedule.teardownTurn}`}:\n`);
  process.stdout.write(await replayLog(script, schedule));
  const text = scheduleText({ ...schedule, script: args.script });
  writeFileSync(out, text);
  process.stdout.write(`schedule (written to ${out}; farmhand simulate ${args.script} --replay ${out} plays it):\n${text}`);
  return 1;
}

function configOf(args: VerifyArgs): { config: VerifyConfig; threads: number } {
  const failures = Number(args.failures);
  if (!/^\d+$/.test(args.failures.trim()) || failures > 9) throw new SimFlagError("--failures", args.failures, "a whole number of failures, 0 to 9");
  const threads = args.threads === undefined ? availableParallelism() : Number(args.threads);
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw new SimFlagError("--threads", args.threads ?? "", "a whole number of threads, 1 to 256");
  const boundMs = durationOf("--bound", args.bound ?? "30s");
  const demand = args.trace === undefined ? null : traceOf(args.trace).points.map((p) => [p.at / 1000, p.rps] as const);
  return {
    threads,
    config: {
      script: path.resolve(args.script),
      farm: args.farm ?? farmNameFor(args.script),
      seed: seedOf(args.seed),
      boundMs,
      demand,
      world: WORLD,
      reconciler: {},
      failures,
      // Past a failure, a run goes on long enough for a breach to outlast the bound twice over.
      horizonMs: 3 * boundMs,
    },
  };
}

/** The counterexample's event log, from playing its schedule here (what --replay shows). */
async function replayLog(script: Awaited<ReturnType<typeof loadScript>>, s: Schedule): Promise<string> {
  const result = await runSimulation(script, {
    farm: s.farm, seed: s.seed, durationMs: s.durationMs, boundMs: s.boundMs, demand: demandOf(s),
    faults: s.faults, teardownAtTurn: s.teardownTurn ?? undefined, reconciler: s.reconciler,
    bootMs: s.world.bootMs, stopMs: s.world.stopMs, jitter: s.world.jitter,
  });
  const log = renderLog(worthPrinting(result.log), describeEvent);
  const placed = s.faults.map((f) => `  turn ${f.turn}: ${f.vm} crashes\n`).join("");
  return `${placed}${log.split("\n").filter((l) => l !== "").map((l) => `  ${l}`).join("\n")}\n`;
}

