// `farmhand simulate SCRIPT`: the script, unchanged, on the simulator (control/sim/): the same
// combinators and reconciler as `up`, on a simulated hypervisor and balancers, in virtual time, with
// the demand and failures asked for. Prints the event log and the farm as `status` would show it at
// the end; --svg draws the timeline. The same flags give the same output, to the byte.
// `--replay FILE` plays a schedule `verify` wrote (its seed, failures, teardown and duration).

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { FarmError } from "../../control/errors.ts";
import { loadScript, farmNameFor } from "../../control/farm/script.ts";
import { DemandTrace } from "../../control/sim/demand.ts";
import { formatDuration, parseDuration } from "../../control/sim/durations.ts";
import { FaultTargetError, ReplayMismatchError, ScheduleFormatError, SimFlagError, TraceFormatError } from "../../control/sim/errors.ts";
import { renderLog, worthPrinting } from "../../control/sim/event-log.ts";
import { parseFaultFlag, type Fault } from "../../control/sim/faults.ts";
import { demandOf, readSchedule, type Schedule } from "../../control/sim/schedule.ts";
import { runSimulation, type SimulationOptions, type SimulationResult } from "../../control/sim/simulation.ts";
import { timelineOf } from "../../control/sim/timeline.ts";
import { timelineSvg } from "../../control/sim/timeline-svg.ts";
import { describeEvent, renderStatus } from "./farm-common.ts";

export interface SimulateArgs {
  readonly script: string;
  readonly farm?: string;
  readonly seed?: string;
  readonly duration?: string;
  readonly trace?: string;
  readonly fail?: readonly string[];
  readonly bound?: string;
  readonly replay?: string;
  readonly svg?: string;
  readonly json?: boolean;
}

const DEFAULT_DURATION = "1h";
const DEFAULT_BOUND = "30s";

export async function runSimulate(args: SimulateArgs): Promise<number> {
  let plan: { options: SimulationOptions; schedule: Schedule | null };
  try {
    plan = planOf(args);
  } catch (error) {
    if (isUsageError(error)) {
      process.stderr.write(`farmhand simulate: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const { options, schedule } = plan;
  const script = await loadScript(args.script);
  const result = await runSimulation(script, options);
  for (const f of options.faults ?? []) {
    if (!result.vmNames.includes(f.vm)) {
      const where = schedule !== null ? `${args.replay}: faults` : `--fail ${args.fail?.find((x) => x.startsWith(`${f.vm}@`)) ?? f.vm}`;
      const error = schedule !== null ? new ReplayMismatchError(args.replay!, `it fails ${f.vm}, which this farm never had`) : new FaultTargetError(where, f.vm, result.vmNames);
      process.stderr.write(`farmhand simulate: ${error.message}\n`);
      return 2;
    }
  }
  if (args.svg !== undefined) writeFileSync(args.svg, timelineSvg(timelineOf(result.log, options.demand ?? null, result.endedAt), `farm ${options.farm}: ${formatDuration(options.durationMs)} simulated, seed ${options.seed ?? 0}`));
  if (args.json === true) process.stdout.write(`${JSON.stringify(jsonOf(options, result), null, 2)}\n`);
  else process.stdout.write(textOf(options, result, schedule));
  for (const p of result.crashedProcesses) process.stderr.write(`farmhand simulate: a process of the simulation failed: ${p.name}: ${p.error}\n`);
  const unreproduced = schedule?.violation != null && !result.violations.some((v) => sameViolation(v, schedule.violation!));
  return unreproduced || result.violations.length > 0 || result.scriptError !== null || result.crashedProcesses.length > 0 ? 1 : 0;
}

function sameViolation(a: { readonly invariant: string; readonly subject: string }, b: { readonly invariant: string; readonly subject: string }): boolean {
  return a.invariant === b.invariant && a.subject === b.subject;
}

/** The run the flags ask for, checked before anything runs. */
function planOf(args: SimulateArgs): { options: SimulationOptions; schedule: Schedule | null } {
  const farm = args.farm ?? farmNameFor(args.script);
  // Found wanting before the run, not after it.
  if (args.svg !== undefined && !existsSync(path.dirname(path.resolve(args.svg)))) throw new SimFlagError("--svg", args.svg, "a file in a folder that exists");
  if (args.replay !== undefined) {
    const given = (["seed", "duration", "trace", "fail", "bound"] as const).filter((k) => args[k] !== undefined && !(k === "fail" && args.fail!.length === 0));
    if (given.length > 0) throw new SimFlagError("--replay", args.replay, `a schedule alone: it holds the seed, duration, demand, failures and bound (drop --${given.join(", --")})`);
    const s = readSchedule(args.replay);
    return {
      schedule: s,
      options: {
        farm: s.farm,
        seed: s.seed,
        durationMs: s.durationMs,
        boundMs: s.boundMs,
        demand: demandOf(s),
        faults: s.faults,
        teardownAtTurn: s.teardownTurn ?? undefined,
        reconciler: s.reconciler,
        bootMs: s.world.bootMs,
        stopMs: s.world.stopMs,
        jitter: s.world.jitter,
      },
    };
  }
  const faults: Fault[] = (args.fail ?? []).map((f) => parseFaultFlag(f));
  return {
    schedule: null,
    options: {
      farm,
      seed: seedOf(args.seed),
      durationMs: durationOf("--duration", args.duration ?? DEFAULT_DURATION),
      boundMs: durationOf("--bound", args.bound ?? DEFAULT_BOUND),
      demand: args.trace === undefined ? null : traceOf(args.trace),
      faults,
    },
  };
}

export function seedOf(text: string | undefined, flag = "--seed"): number {
  if (text === undefined) return 0;
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n)) throw new SimFlagError(flag, text, "a whole number, 0 or more");
  return n;
}

export function durationOf(flag: string, text: string): number {
  const ms = parseDuration(text);
  if (ms === null || ms <= 0) throw new SimFlagError(flag, text, "a duration such as 24h, 30m, 90s, 1h30m or 500ms");
  return ms;
}

export function traceOf(file: string): DemandTrace {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new SimFlagError("--trace", file, `a readable CSV file of "seconds,requests per second" lines (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  return DemandTrace.fromCsv(text, file);
}

export function isUsageError(error: unknown): error is FarmError {
  return error instanceof SimFlagError || error instanceof TraceFormatError || error instanceof ScheduleFormatError;
}

function textOf(o: SimulationOptions, r: SimulationResult, schedule: Schedule | null): string {
  let out = `simulate: farm ${o.farm}, seed ${o.seed ?? 0}, ${formatDuration(o.durationMs)} of virtual time, ` +
    `${o.faults?.length ?? 0} failure(s) asked for${o.demand === null ? ", no demand" : ""}${schedule === null ? "" : ` (replaying a schedule)`}\n`;
  out += renderLog(worthPrinting(r.log), describeEvent);
  if (r.topology !== null) out += `\n${renderStatus(o.farm, r.topology)}`;
  const injected = r.log.filter((e) => e.kind === "fault" && e.outcome === "injected").length;
  out += `\nsimulate: farm ${o.farm}: ${r.log.filter((e) => e.kind === "event").length} events, ${injected} failure(s) injected, ` +
    `${r.violations.length} invariant violation(s); ${formatDuration(r.endedAt)} in ${r.turns} turns\n`;
  if (schedule?.violation != null) {
    const again = r.violations.find((v) => sameViolation(v, schedule.violation!));
    out += again !== undefined
      ? `replay: the violation is reproduced: ${again.message}\n`
      : `replay: the violation did NOT happen again (${schedule.violation.message})\n`;
  }
  return out;
}

function jsonOf(o: SimulationOptions, r: SimulationResult): unknown {
  return {
    farm: o.farm,
    seed: o.seed ?? 0,
    durationMs: o.durationMs,
    turns: r.turns,
    endedAt: r.endedAt,
    log: r.log,
    violations: r.violations,
    topology: r.topology,
  };
}
