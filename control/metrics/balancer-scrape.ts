// Demand read from the balancers themselves: their /metrics, through the admin API, with no
// Prometheus server. Rates and quantiles need two scrapes, so each group's previous scrape is kept;
// the first read of a group has nothing to compare with and says so (which holds the group as it is).
// A PromQL query needs a Prometheus server, and says that too.

import type { Reading } from "../autoscale/decide.ts";
import type { DemandMetric } from "../autoscale/policy.ts";
import { parseExposition, quantileBetween, sumOf, type Sample } from "./exposition.ts";
import type { GroupTarget, MetricsSource } from "./source.ts";

export function balancerScrapeSource(): MetricsSource {
  const last = new Map<string, { at: number; samples: Sample[] }>();
  return {
    name: "the balancers' /metrics",
    async read(group: GroupTarget, metric: DemandMetric, now: number): Promise<Reading> {
      if (metric.kind === "promql") return { value: null, error: "a PromQL demand needs a Prometheus server (farmhand runs one when the prometheus package is installed)" };
      let samples: Sample[];
      try {
        samples = parseExposition(await group.admin.metrics());
      } catch (error) {
        return { value: null, error: `cannot read ${group.balancer}'s metrics: ${(error as Error).message}` };
      }
      const pool = { pool: group.pool };
      if (metric.kind === "in-flight") {
        const v = sumOf(samples, "farmhand_in_flight_requests", pool);
        return v === null ? { value: null, error: `${group.balancer} reports no pool ${group.pool}` } : { value: v, at: now };
      }
      const key = `${group.balancer}/${group.pool}/${metric.kind}`;
      const before = last.get(key);
      last.set(key, { at: now, samples });
      if (before === undefined || now <= before.at) return { value: null, error: "a first scrape: a rate needs two" };
      if (metric.kind === "request-rate") {
        const now1 = sumOf(samples, "farmhand_responses_total", pool);
        const was = sumOf(before.samples, "farmhand_responses_total", pool);
        if (now1 === null || was === null) return { value: null, error: `${group.balancer} reports no pool ${group.pool}` };
        // A counter that went down: the balancer restarted. Its count since then is the rate's best guess.
        const delta = now1 >= was ? now1 - was : now1;
        return { value: (delta * 1000) / (now - before.at), at: now };
      }
      const q = quantileBetween(before.samples, samples, "farmhand_request_duration_seconds", pool, metric.quantile);
      // No request in the interval: no latency to speak of, which is not a failure to read.
      return { value: q ?? 0, at: now };
    },
  };
}
