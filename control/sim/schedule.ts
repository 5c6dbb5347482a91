// A schedule: everything a simulated run depends on, in one file, so that `simulate --replay` plays
// the same run again, turn for turn. `verify` writes one for the shortest counterexample it found:
// the failures it placed (by turn of the kernel), where it tore the farm down, the seed, the world's
// timings, the demand, how long the run lasted, and the violation it saw.

import { readFileSync } from "node:fs";
import type { ReconcilerOptions } from "../reconcile/reconciler.ts";
import { DemandTrace } from "./demand.ts";
import { ScheduleFormatError } from "./errors.ts";
import { FAULT_KINDS, type FaultKind } from "./faults.ts";
import type { InvariantName } from "./invariants.ts";

export const SCHEDULE_FORMAT = "farmhand-schedule/1";

export interface Schedule {
  /** The script it was made for, as given (replay runs the one given to it). */
  readonly script: string;
  readonly farm: string;
  readonly seed: number;
  readonly durationMs: number;
  readonly boundMs: number;
  readonly world: { readonly bootMs: number; readonly stopMs: number; readonly jitter: number };
  readonly reconciler: ReconcilerOptions;
  /** Requests per second at every balancer: [seconds, rps] points, or null for none. */
  readonly demand: readonly (readonly [number, number])[] | null;
  readonly faults: readonly { readonly vm: string; readonly kind: FaultKind; readonly turn: number }[];
  /** Turn after which the farm is torn down; null: at the end of the run. */
  readonly teardownTurn: number | null;
  readonly violation: { readonly invariant: InvariantName; readonly subject: string; readonly at: number; readonly message: string } | null;
}

export function scheduleText(s: Schedule): string {
  return `${JSON.stringify({ format: SCHEDULE_FORMAT, ...s }, null, 2)}\n`;
}

export function demandOf(s: Schedule): DemandTrace | null {
  return s.demand === null ? null : new DemandTrace(s.demand.map(([t, rps]) => ({ at: t * 1000, rps })));
}

/** Reads and checks a schedule file, naming the field that is wrong. */
export function readSchedule(file: string): Schedule {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ScheduleFormatError(file, "(file)", `cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, undefined);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ScheduleFormatError(file, "(file)", `is not JSON: ${(error as Error).message}`, undefined);
  }
  const fail = (field: string, problem: string, value: unknown): never => {
    throw new ScheduleFormatError(file, field, problem, value);
  };
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return fail("(file)", "expected a JSON object", undefined);
  const o = raw as Record<string, unknown>;
  if (o.format !== SCHEDULE_FORMAT) fail("format", `expected "${SCHEDULE_FORMAT}"`, o.format);
  const str = (k: string) => (typeof o[k] === "string" ? (o[k] as string) : fail(k, "expected a string", o[k]));
  const count = (v: unknown, k: string) => (typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : fail(k, "expected a whole number, 0 or more", v));
  const ms = (v: unknown, k: string) => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : fail(k, "expected milliseconds, 0 or more", v));
  const obj = (v: unknown, k: string) => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : fail(k, "expected an object", v));
  const world = obj(o.world, "world");
  const jitter = typeof world.jitter === "number" && world.jitter >= 0 && world.jitter < 1 ? world.jitter : fail("world.jitter", "expected a number in [0, 1)", world.jitter);
  const reconciler = obj(o.reconciler, "reconciler");
  for (const [k, v] of Object.entries(reconciler)) ms(v, `reconciler.${k}`);
  let demand: [number, number][] | null = null;
  if (o.demand !== null) {
    if (!Array.isArray(o.demand) || o.demand.length === 0) fail("demand", "expected null or a list of [seconds, rps] points", o.demand);
    demand = (o.demand as unknown[]).map((p, i) => {
      const pair = Array.isArray(p) && p.length === 2 && p.every((x) => typeof x === "number" && Number.isFinite(x) && x >= 0) ? (p as number[]) : fail(`demand[${i}]`, "expected [seconds, rps], numbers 0 or more", p);
      return [pair[0], pair[1]] as [number, number];
    });
  }
  if (!Array.isArray(o.faults)) fail("faults", "expected a list", o.faults);
  const faults = (o.faults as unknown[]).map((f, i) => {
    const x = obj(f, `faults[${i}]`);
    if (typeof x.vm !== "string" || x.vm === "") fail(`faults[${i}].vm`, "expected a VM name", x.vm);
    if (!FAULT_KINDS.includes(x.kind as FaultKind)) fail(`faults[${i}].kind`, `expected one of ${FAULT_KINDS.join(", ")}`, x.kind);
    return { vm: x.vm as string, kind: x.kind as FaultKind, turn: count(x.turn, `faults[${i}].turn`) };
  });
  const v = o.violation;
  let violation: Schedule["violation"] = null;
  if (v !== null) {
    const x = obj(v, "violation");
    violation = { invariant: x.invariant as InvariantName, subject: String(x.subject), at: ms(x.at, "violation.at"), message: String(x.message) };
  }
  return {
    script: str("script"),
    farm: str("farm"),
    seed: count(o.seed, "seed"),
    durationMs: ms(o.durationMs, "durationMs"),
    boundMs: ms(o.boundMs, "boundMs"),
    world: { bootMs: ms(world.bootMs, "world.bootMs"), stopMs: ms(world.stopMs, "world.stopMs"), jitter },
    reconciler: reconciler as ReconcilerOptions,
    demand,
    faults,
    teardownTurn: o.teardownTurn === null ? null : count(o.teardownTurn, "teardownTurn"),
    violation,
  };
}
