// Demand in simulation: a trace of requests per second over virtual time, from points (a CSV of
// "seconds,rps" lines, or code), held constant between them; and the metrics source it feeds, which
// answers as a Prometheus server would for the built-in demand metrics of any group.

import type { Clock } from "../drivers/driver.ts";
import type { Reading } from "../autoscale/decide.ts";
import type { DemandMetric } from "../autoscale/policy.ts";
import type { GroupTarget, MetricsSource } from "../metrics/source.ts";
import { TraceFormatError } from "./errors.ts";

export interface DemandPoint {
  /** Virtual time, in ms from the trace's start. */
  readonly at: number;
  readonly rps: number;
}

export class DemandTrace {
  readonly points: readonly DemandPoint[];

  constructor(points: readonly DemandPoint[]) {
    if (points.length === 0) throw new RangeError("a demand trace needs at least one point");
    this.points = [...points].sort((a, b) => a.at - b.at);
  }

  /** "seconds,rps" per line; "#" starts a comment; a first line of words (a header) is skipped. */
  static fromCsv(text: string, file = "trace"): DemandTrace {
    const points: DemandPoint[] = [];
    let first = true;
    text.split("\n").forEach((raw, i) => {
      const line = raw.replace(/#.*/, "").trim();
      if (line === "") return;
      const [t, rps, extra] = line.split(",").map((x) => x.trim());
      // The first line that is not a comment may be a header ("seconds,rps"): words, not numbers.
      const header = first && /^[A-Za-z_]/.test(t);
      first = false;
      if (header) return;
      const at = Number(t);
      const value = Number(rps);
      if (extra !== undefined || rps === undefined) throw new TraceFormatError(file, i + 1, raw.trim(), 'expected two fields, "seconds,requests per second"');
      if (t === "" || !Number.isFinite(at) || at < 0) throw new TraceFormatError(file, i + 1, raw.trim(), "expected seconds from the start (a number, 0 or more) before the comma");
      if (rps === "" || !Number.isFinite(value) || value < 0) throw new TraceFormatError(file, i + 1, raw.trim(), "expected requests per second (a number, 0 or more) after the comma");
      if (points.length > 0 && at * 1000 < points[points.length - 1].at) throw new TraceFormatError(file, i + 1, raw.trim(), `expected times in order (this one is before ${points[points.length - 1].at / 1000} s)`);
      points.push({ at: at * 1000, rps: value });
    });
    if (points.length === 0) throw new TraceFormatError(file, 1, text.slice(0, 40), 'expected at least one line of "seconds,requests per second"');
    return new DemandTrace(points);
  }

  /** Requests per second at `t` (the last point at or before it). */
  rpsAt(t: number): number {
    // By binary search: a day's trace at a point a minute is read at every autoscaler's every turn.
    return this.points[this.#indexAt(t)].rps;
  }

  /** Requests from `from` to `to`. */
  requestsBetween(from: number, to: number): number {
    const points = this.points;
    let total = 0;
    // From the point in force at `from` (found by binary search) to the last one before `to`.
    let i = this.#indexAt(from);
    for (; i < points.length; i++) {
      const start = Math.max(from, i === 0 ? -Infinity : points[i].at);
      if (start >= to) break;
      const end = Math.min(to, i + 1 < points.length ? points[i + 1].at : Infinity);
      if (end > start) total += (points[i].rps * (end - start)) / 1000;
    }
    return total;
  }

  /** The index of the point in force at `t` (the first point's before it starts). */
  #indexAt(t: number): number {
    const points = this.points;
    let lo = 0;
    let hi = points.length - 1;
    if (t < points[0].at) return 0;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (points[mid].at <= t) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

export interface SimDemandOptions {
  /** How long a request takes to serve (in-flight = rate x this, by Little's law). Default 50 ms. */
  readonly serviceMs?: number;
  /** Rates are averaged over this window, as `rate(...[1s])` would. Default 1 000 ms. */
  readonly windowMs?: number;
  /** While this says so, every read fails (a Prometheus outage). */
  readonly down?: (t: number) => boolean;
}

/**
 * Demand per group, read from traces by group name (a group without a trace has none): a map, or a
 * function of the group's balancer.
 */
export function simDemandSource(clock: Clock, traces: ReadonlyMap<string, DemandTrace> | ((balancer: string) => DemandTrace | undefined), options: SimDemandOptions = {}): MetricsSource {
  const traceOf = typeof traces === "function" ? traces : (balancer: string) => traces.get(balancer);
  const serviceMs = options.serviceMs ?? 50;
  const windowMs = options.windowMs ?? 1_000;
  return {
    name: "the simulated demand",
    async read(group: GroupTarget, metric: DemandMetric): Promise<Reading> {
      const now = clock.now();
      if (options.down?.(now) === true) return { value: null, error: "metrics source down (simulated)" };
      const trace = traceOf(group.balancer);
      if (trace === undefined) return { value: null, error: `no demand trace for ${group.balancer}` };
      const rate = trace.requestsBetween(now - windowMs, now) / (windowMs / 1000);
      switch (metric.kind) {
        case "request-rate": return { value: rate, at: now };
        case "in-flight": return { value: (rate * serviceMs) / 1000, at: now };
        case "latency": return { value: serviceMs / 1000, at: now };
        case "promql": return { value: null, error: "PromQL is not simulated" };
      }
    },
  };
}
