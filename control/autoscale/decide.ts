// The autoscaling decision, as a pure function of the policy, what was decided before, what is
// observed now and the time: nothing here reads a clock, a metric or a VM, so a simulation can
// replay a run's decisions exactly, and properties can be checked over generated histories.
//
// The steps, each recorded when it is the one that set the outcome:
//   1. each demand metric recommends ceil(demand / target) replicas, unless demand is within the
//      tolerance of what the ready replicas carry; a metric that cannot be read recommends no fewer
//      than there are (missing data never scales down), or what onMetricFailure says;
//   2. the largest recommendation wins; a group at zero stays there until demand passes activation;
//   3. a spike (demand at panic.threshold x capacity) opens the panic window: only growth, at once,
//      past the up-stabilization window and the up rate limits;
//   4. stabilization: a scale-down follows the highest recommendation of its window, a scale-up the
//      lowest of its own;
//   5. cooldowns, then rate limits over their periods, then min and max.

import type { AutoscalePolicy, Demand, RateLimits } from "./policy.ts";

/** One reading of one demand metric: a value and when it was sampled, or why there is none. */
export type Reading = { readonly value: number; readonly at: number } | { readonly value: null; readonly error: string };

export interface Observation {
  /** Replicas the group has now, starting ones included. */
  readonly current: number;
  /** Replicas that serve: not starting, draining or being healed (the others carry no demand). */
  readonly ready: number;
  /** One reading per demand metric of the policy, in its order. */
  readonly readings: readonly Reading[];
}

export interface History {
  /** Recommendations of the stabilization windows, oldest first. */
  readonly recommendations: readonly { readonly at: number; readonly replicas: number }[];
  /** Changes made, oldest first: for rate limits and cooldowns. */
  readonly changes: readonly { readonly at: number; readonly from: number; readonly to: number }[];
  /** Evaluations in a row in which some metric could not be read. */
  readonly failures: number;
  /** Panic mode lasts until then (0: not in panic). */
  readonly panicUntil: number;
}

export const EMPTY_HISTORY: History = { recommendations: [], changes: [], failures: 0, panicUntil: 0 };

/** Which rule settled the outcome. */
export type Rule =
  | "demand" | "tolerance" | "metric-failure" | "activation" | "panic" | "stabilization"
  | "cooldown" | "rate-limit" | "min" | "max";

export interface Decision {
  readonly at: number;
  readonly current: number;
  readonly ready: number;
  /** Each metric's demand (null when it could not be read) and what it recommended. */
  readonly metrics: readonly { readonly demand: number | null; readonly recommends: number; readonly error?: string }[];
  /** Demand over what the ready replicas carry at target (the largest over the metrics); null without data. */
  readonly ratio: number | null;
  /** The largest metric recommendation, before the rules that follow. */
  readonly recommendation: number;
  readonly desired: number;
  readonly limitedBy: Rule;
  readonly panic: boolean;
}

export function decide(policy: AutoscalePolicy, history: History, observation: Observation, now: number): { decision: Decision; history: History } {
  const { current, ready } = observation;
  let failed = false;
  let heldByTolerance = false;
  let ratio: number | null = null;
  const metrics = policy.demand.map((demand, i) => {
    const reading = observation.readings[i] ?? { value: null, error: "not read" };
    const usable = reading.value !== null && Number.isFinite(reading.value) && reading.value >= 0 && now - reading.at <= policy.staleMs;
    if (!usable) {
      failed = true;
      const error = reading.value === null ? reading.error : !Number.isFinite(reading.value) || reading.value < 0 ? `not a demand (${reading.value})` : `stale (sampled ${now - reading.at} ms ago)`;
      return { demand: null, recommends: current, error };
    }
    const { recommends, usage, held } = recommend(demand, reading.value, current, ready, policy);
    ratio = ratio === null ? usage : Math.max(ratio, usage);
    if (held) heldByTolerance = true;
    return { demand: reading.value, recommends };
  });
  const failures = failed ? history.failures + 1 : 0;

  // 1-2. The largest recommendation; a metric that failed never lets the group shrink.
  let rule: Rule = "demand";
  let recommendation = Math.max(...metrics.map((m) => m.recommends));
  if (failed) {
    const onFailure = policy.onMetricFailure;
    const floor = onFailure.kind === "max" ? policy.max
      : onFailure.kind === "fallback" && failures >= onFailure.afterFailures ? Math.max(current, onFailure.replicas)
      : current;
    if (floor >= recommendation) rule = "metric-failure";
    recommendation = Math.max(recommendation, floor);
  } else if (recommendation === current && heldByTolerance) {
    rule = "tolerance";
  }
  const totalDemand = metrics.reduce((s, m, i) => s + (m.demand !== null && policy.demand[i].metric.kind !== "latency" ? m.demand : 0), 0);
  if (current === 0 && !failed && totalDemand <= policy.activation) {
    recommendation = 0;
    rule = "activation";
  }

  // 3. Panic: a spike opens a window in which the group only grows, and grows at once.
  let panicUntil = history.panicUntil;
  if (policy.panic !== false && ratio !== null && ready > 0 && ratio >= policy.panic.threshold) panicUntil = now + policy.panic.windowMs;
  const panic = panicUntil > now;

  // 4. Stabilization over the windows.
  const keepMs = Math.max(policy.stabilization.upMs, policy.stabilization.downMs);
  const recommendations = [...history.recommendations.filter((r) => now - r.at < keepMs), { at: now, replicas: recommendation }];
  let desired = recommendation;
  if (desired > current) {
    if (!panic) {
      const lowest = Math.min(...recommendations.filter((r) => now - r.at <= policy.stabilization.upMs).map((r) => r.replicas));
      if (lowest < desired) {
        desired = Math.max(current, lowest);
        rule = "stabilization";
      }
    } else {
      rule = "panic";
    }
  } else if (desired < current) {
    if (panic) {
      desired = current;
      rule = "panic";
    } else {
      const highest = Math.max(...recommendations.filter((r) => now - r.at <= policy.stabilization.downMs).map((r) => r.replicas));
      if (highest > desired) {
        desired = Math.min(current, highest);
        rule = "stabilization";
      }
    }
  }

  // 5. Cooldowns, rate limits, min and max.
  const lastUp = findLast(history.changes, (c) => c.to > c.from);
  const lastChange = history.changes.at(-1);
  if (desired > current && lastUp !== undefined && now - lastUp.at < policy.cooldown.upMs) {
    desired = current;
    rule = "cooldown";
  }
  if (desired < current && lastChange !== undefined && now - lastChange.at < policy.cooldown.downMs) {
    desired = current;
    rule = "cooldown";
  }
  // In panic the group grows as fast as demand asks (a spike is what rate limits are not for); it
  // still cannot pass max.
  if (desired > current && !panic) {
    const limit = rateLimit(policy.rate.up, history, current, now, +1);
    if (desired > limit) {
      desired = Math.max(current, limit);
      rule = "rate-limit";
    }
  } else if (desired < current) {
    const limit = rateLimit(policy.rate.down, history, current, now, -1);
    if (desired < limit) {
      desired = Math.min(current, limit);
      rule = "rate-limit";
    }
  }
  if (desired > policy.max) {
    desired = policy.max;
    rule = "max";
  }
  if (desired < policy.min) {
    desired = policy.min;
    rule = "min";
  }

  const changes = desired === current ? history.changes : [...history.changes, { at: now, from: current, to: desired }];
  const keepChanges = Math.max(policy.cooldown.upMs, policy.cooldown.downMs,
    ...[...policy.rate.up.rules, ...policy.rate.down.rules].map((r) => r.periodMs));
  return {
    decision: { at: now, current, ready, metrics, ratio, recommendation, desired, limitedBy: rule, panic },
    history: { recommendations, changes: changes.filter((c) => now - c.at <= keepChanges), failures, panicUntil },
  };
}

/**
 * How often a series of group sizes turned around (grew after shrinking, or shrank after growing):
 * flapping, which a stable policy keeps at zero on a noisy but flat demand.
 */
export function reversals(sizes: readonly number[]): number {
  let last = 0;
  let n = 0;
  for (let i = 1; i < sizes.length; i++) {
    const direction = Math.sign(sizes[i] - sizes[i - 1]);
    if (direction === 0) continue;
    if (last !== 0 && direction !== last) n++;
    last = direction;
  }
  return n;
}

/** What one metric asks for: ceil(demand / target), or for an average ceil(ready x value / target). */
function recommend(demand: Demand, value: number, current: number, ready: number, policy: AutoscalePolicy): { recommends: number; usage: number; held: boolean } {
  const average = demand.metric.kind === "latency" || (demand.metric.kind === "promql" && demand.metric.as === "average");
  const usage = average ? value / demand.target : ready === 0 ? (value > 0 ? Infinity : 0) : value / (ready * demand.target);
  const wanted = average ? Math.ceil(Math.max(ready, 1) * usage) : Math.ceil(value / demand.target);
  // Within tolerance of the target, the group stays as it is.
  if (current > 0 && ready > 0 && usage >= 1 - policy.tolerance.down && usage <= 1 + policy.tolerance.up) {
    return { recommends: current, usage, held: wanted !== current };
  }
  return { recommends: wanted, usage, held: false };
}

/**
 * How far the group may go in one direction now: from the count at the start of each rule's period
 * (now minus what changed since), by the rule's replicas or percent; `select` picks among rules.
 */
function rateLimit(limits: RateLimits, history: History, current: number, now: number, sign: 1 | -1): number {
  if (limits.select === "disabled") return current;
  const bounds = limits.rules.map((rule) => {
    const since = history.changes.filter((c) => now - c.at < rule.periodMs);
    const atStart = since.length === 0 ? current : since[0].from;
    // A percent of nothing is nothing: from zero, a percent rule still lets one replica come.
    const step = "replicas" in rule ? rule.replicas : Math.max(sign > 0 ? 1 : 0, Math.ceil((atStart * rule.percent) / 100));
    return atStart + sign * step;
  });
  if (bounds.length === 0) return sign > 0 ? Infinity : -Infinity;
  const loosest = sign > 0 ? Math.max(...bounds) : Math.min(...bounds);
  const tightest = sign > 0 ? Math.min(...bounds) : Math.max(...bounds);
  return limits.select === "max" ? loosest : tightest;
}

function findLast<T>(list: readonly T[], fn: (t: T) => boolean): T | undefined {
  for (let i = list.length - 1; i >= 0; i--) if (fn(list[i])) return list[i];
  return undefined;
}
