// An autoscale policy: what demand is, how much of it one replica should carry, and the rules that
// keep the replica count from flapping or lurching. Every field has a default (DEFAULT_POLICY), so a
// policy needs only its demand, target, min and max; `autoscalePolicy` checks a policy and fills it in.

import type { AnyRole } from "../contracts/index.ts";
import { WiringError } from "../errors.ts";

/**
 * Demand, as one number per evaluation.
 * - request-rate: requests per second through the group's balancer; total, target is per replica.
 * - in-flight: requests in flight at the group's balancer; total, target is per replica.
 * - latency: a quantile of the balancer's request duration, in seconds; an average, compared with
 *   the target as it is (two replicas at twice the target latency want four).
 * - promql: any PromQL query's value (needs a Prometheus server); total unless `as: "average"`.
 */
export type DemandMetric =
  | { readonly kind: "request-rate" }
  | { readonly kind: "in-flight" }
  | { readonly kind: "latency"; readonly quantile: number }
  | { readonly kind: "promql"; readonly query: string; readonly as?: "total" | "average" };

export interface Demand {
  readonly metric: DemandMetric;
  /** What one replica should carry: requests per second, requests in flight, seconds, or the query's unit. */
  readonly target: number;
}

/** A step limit over a period: so many replicas, or so many percent of those at the period's start. */
export type RateRule = { readonly replicas: number; readonly periodMs: number } | { readonly percent: number; readonly periodMs: number };

export interface RateLimits {
  readonly rules: readonly RateRule[];
  /** Which rule wins when several apply: the one that allows most change, the least, or no change at all. */
  readonly select: "max" | "min" | "disabled";
}

/** What to do while the metric cannot be read (missing, stale, NaN, or the source down). */
export type MetricFailure =
  /** Keep the replicas there are. */
  | { readonly kind: "hold" }
  /** Go to `replicas` after `afterFailures` failed reads in a row (never below what there is). */
  | { readonly kind: "fallback"; readonly replicas: number; readonly afterFailures: number }
  /** Go towards max: capacity is cheaper than an outage nobody can see. */
  | { readonly kind: "max" };

export interface AutoscalePolicy {
  readonly demand: readonly Demand[];
  /** 0 allowed: the group scales to zero, and from zero once demand passes `activation`. */
  readonly min: number;
  readonly max: number;
  /** How far from the target demand may be before the count changes, per direction (0.1: 10 %). */
  readonly tolerance: { readonly up: number; readonly down: number };
  /**
   * Recommendations are remembered this long: a scale-down follows the highest of its window, a
   * scale-up the lowest of its (0: at once).
   */
  readonly stabilization: { readonly upMs: number; readonly downMs: number };
  readonly rate: { readonly up: RateLimits; readonly down: RateLimits };
  /**
   * Demand at `threshold` times capacity (ready replicas x target) is a spike: for `windowMs` the
   * group may only grow, and grows at once (past its up-stabilization window and up rate limits).
   * false: no panic mode.
   */
  readonly panic: { readonly threshold: number; readonly windowMs: number } | false;
  /** After a scale-up, no further scale-up for upMs; after any change, no scale-down for downMs. */
  readonly cooldown: { readonly upMs: number; readonly downMs: number };
  readonly onMetricFailure: MetricFailure;
  /** With min 0: demand at or below this keeps a group at zero. */
  readonly activation: number;
  /** How a removed replica leaves: drained in its balancer for up to timeoutMs, then stopped. */
  readonly drain: { readonly timeoutMs: number };
  /** How often the group is evaluated. */
  readonly syncMs: number;
  /** A sample older than this is stale: as missing. */
  readonly staleMs: number;
}

export const DEFAULT_POLICY: Omit<AutoscalePolicy, "demand" | "min" | "max"> = {
  tolerance: { up: 0.1, down: 0.1 },
  stabilization: { upMs: 0, downMs: 60_000 },
  rate: {
    // A VM takes seconds to start, so a spike is met in one step: up to four times the group (or four
    // more) per period. HPA's default doubles per period, which takes a 5x spike three periods.
    up: { rules: [{ replicas: 4, periodMs: 15_000 }, { percent: 300, periodMs: 15_000 }], select: "max" },
    down: { rules: [{ percent: 100, periodMs: 15_000 }], select: "max" },
  },
  // Knative's proportion: the panic window is a tenth of a minute-long stable window.
  panic: { threshold: 2, windowMs: 10_000 },
  cooldown: { upMs: 0, downMs: 0 },
  onMetricFailure: { kind: "hold" },
  activation: 0,
  drain: { timeoutMs: 30_000 },
  syncMs: 1_000,
  staleMs: 10_000,
};

/** Non-negative integer literals A <= B, compared as digit strings; anything not a literal passes. */
type Digits<N extends number> = `${N}`;
type LengthOf<S extends string, Acc extends unknown[] = []> = S extends `${string}${infer R}` ? LengthOf<R, [...Acc, 0]> : Acc["length"];
type DigitLE<A extends string, B extends string> = "0123456789" extends `${string}${A}${string}${B}${string}` ? true : A extends B ? true : false;
type SameLengthLE<A extends string, B extends string> = A extends `${infer A0}${infer AR}`
  ? B extends `${infer B0}${infer BR}`
    ? A0 extends B0 ? SameLengthLE<AR, BR> : DigitLE<A0, B0>
    : true
  : true;
type LongerThan<A extends unknown[], B extends unknown[]> = B extends [...A, ...infer Rest] ? (Rest extends [] ? "same" : "shorter") : "longer";
type IntLE<A extends string, B extends string> = LongerThan<Tuple<LengthOf<A>>, Tuple<LengthOf<B>>> extends infer L
  ? L extends "same" ? SameLengthLE<A, B> : L extends "shorter" ? true : false
  : never;
type Tuple<N extends number, Acc extends unknown[] = []> = Acc["length"] extends N ? Acc : Tuple<N, [...Acc, 0]>;
/** `never` when min and max are both literal integers and min > max: the mistake fails to compile. */
export type MinAtMostMax<Min extends number, Max extends number> =
  number extends Min ? unknown
  : number extends Max ? unknown
  : `${Min}` extends `${bigint}` ? `${Max}` extends `${bigint}` ? IntLE<Digits<Min>, Digits<Max>> extends true ? unknown : never : unknown
  : unknown;

declare const policyRole: unique symbol;

/** What a script writes: demand, min and max, anything else to change from DEFAULT_POLICY. */
export type AutoscaleOptions<Min extends number = number, Max extends number = number> =
  Partial<Omit<AutoscalePolicy, "demand" | "min" | "max">> & {
    readonly demand: Demand | readonly Demand[];
    readonly min: Min;
    readonly max: Max;
    /** A policy made for a role (autoscalePolicy) is not plain options: it fits only that role's group. */
    readonly [policyRole]?: never;
  } & MinAtMostMax<Min, Max>;

/** A policy made for one role's group: `farm.autoscale` refuses it for another's. */
export type RolePolicy<R extends AnyRole> = AutoscalePolicy & { readonly [policyRole]: R["name"] };

/** A checked policy for groups of `role` (so it cannot be applied to another role's group). */
export function autoscalePolicy<R extends AnyRole, const Min extends number, const Max extends number>(
  role: R,
  options: AutoscaleOptions<Min, Max>,
): RolePolicy<R> {
  return completePolicy(`autoscale policy for ${role.name}`, options) as RolePolicy<R>;
}

const CHECKED = new WeakSet<object>();

/** A policy `completePolicy` made (and checked), as opposed to options still to be checked. */
export function isPolicy(value: unknown): value is AutoscalePolicy {
  return typeof value === "object" && value !== null && CHECKED.has(value);
}

/** Fills in the defaults and checks every field, naming the one that is wrong. */
export function completePolicy(where: string, options: AutoscaleOptions): AutoscalePolicy {
  const p: AutoscalePolicy = { ...DEFAULT_POLICY, ...options, demand: Array.isArray(options.demand) ? options.demand : [options.demand as Demand] };
  const fail = (field: string, problem: string, got: unknown): never => {
    throw new WiringError(where, field, problem, got);
  };
  const count = (field: string, n: unknown) => {
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0) fail(field, "a whole number, 0 or more", n);
  };
  const ms = (field: string, n: unknown) => {
    if (typeof n !== "number" || !Number.isFinite(n) || n < 0) fail(field, "milliseconds, 0 or more", n);
  };
  count("min", p.min);
  count("max", p.max);
  if (p.max < 1) fail("max", "at least 1", p.max);
  if (p.min > p.max) fail("min", `at most max (${p.max})`, p.min);
  if (p.demand.length === 0) fail("demand", "at least one demand metric", p.demand);
  p.demand.forEach((d, i) => {
    if (typeof d?.target !== "number" || !(d.target > 0) || !Number.isFinite(d.target)) fail(`demand[${i}].target`, "a positive number", d?.target);
    const m = d.metric;
    if (m?.kind === "latency" && !(m.quantile > 0 && m.quantile < 1)) fail(`demand[${i}].metric.quantile`, "between 0 and 1", m.quantile);
    if (m?.kind === "promql" && (typeof m.query !== "string" || m.query.trim() === "")) fail(`demand[${i}].metric.query`, "a PromQL query", m.query);
    if (!["request-rate", "in-flight", "latency", "promql"].includes(m?.kind)) fail(`demand[${i}].metric.kind`, "request-rate, in-flight, latency or promql", m?.kind);
  });
  for (const dir of ["up", "down"] as const) {
    if (!(p.tolerance[dir] >= 0 && p.tolerance[dir] < 1)) fail(`tolerance.${dir}`, "between 0 and 1", p.tolerance[dir]);
    ms(`stabilization.${dir}Ms`, p.stabilization[`${dir}Ms`]);
    ms(`cooldown.${dir}Ms`, p.cooldown[`${dir}Ms`]);
    p.rate[dir].rules.forEach((r, i) => {
      ms(`rate.${dir}.rules[${i}].periodMs`, r.periodMs);
      const amount = "replicas" in r ? r.replicas : r.percent;
      if (!(amount > 0)) fail(`rate.${dir}.rules[${i}]`, "a positive number of replicas or percent", amount);
    });
  }
  if (p.panic !== false && !(p.panic.threshold > 1)) fail("panic.threshold", "more than 1 (times capacity)", p.panic.threshold);
  if (!["hold", "fallback", "max"].includes(p.onMetricFailure?.kind)) fail("onMetricFailure.kind", "hold, fallback or max", p.onMetricFailure?.kind);
  if (p.onMetricFailure.kind === "fallback") {
    count("onMetricFailure.replicas", p.onMetricFailure.replicas);
    count("onMetricFailure.afterFailures", p.onMetricFailure.afterFailures);
    if (p.onMetricFailure.afterFailures < 1) fail("onMetricFailure.afterFailures", "at least 1 failed read", p.onMetricFailure.afterFailures);
  }
  if (typeof p.activation !== "number" || !(p.activation >= 0) || !Number.isFinite(p.activation)) fail("activation", "a number, 0 or more", p.activation);
  ms("syncMs", p.syncMs);
  if (p.syncMs < 100) fail("syncMs", "at least 100", p.syncMs);
  ms("staleMs", p.staleMs);
  ms("drain.timeoutMs", p.drain.timeoutMs);
  const frozen = Object.freeze(p);
  CHECKED.add(frozen);
  return frozen;
}
