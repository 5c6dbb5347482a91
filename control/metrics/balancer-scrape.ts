// Demand read from the balancers themselves: their /metrics, through the admin API, with no
// Prometheus server. Rates and quantiles need two scrapes, so each group's previous scrape is kept;
// the first read of a group has nothing to compare with and says so (which holds the group as it is).
// All the metrics of one evaluation read one scrape: a metric may not take another's previous scrape
// for its own, and the balancer is asked once per evaluation however many metrics there are.
// A PromQL query needs a Prometheus server, and says that too.

import type { Reading } from "../autoscale/decide.ts";
import type { DemandMetric } from "../autoscale/policy.ts";
import { parseExposition, quantileBetween, sumOf, type Sample } from "./exposition.ts";
import type { GroupTarget, MetricsSource } from "./source.ts";

/**
 * A balancer pool's scrape for the evaluation at `at`, which every metric of that evaluation reads
 * (a policy may ask for p50 and p99, or two rates, of one pool), and the last good scrape before it,
 * which rates and quantiles compare with.
 */
interface Scrapes {
  readonly at: number;
  readonly current: Promise<Sample[]>;
  readonly before: { readonly at: number; readonly samples: Sample[] } | null;
  /** `current`'s samples once it has them; null while pending or after it failed. */
  samples: Sample[] | null;
}

export function balancerScrapeSource(): MetricsSource {
  // One entry per balancer pool, replaced each evaluation: as many as the farm has groups.
  const scrapes = new Map<string, Scrapes>();
  const scrape = (group: GroupTarget, now: number): Scrapes => {
    const key = `${group.balancer}/${group.pool}`;
    const had = scrapes.get(key);
    if (had !== undefined && had.at === now) return had;
    // A scrape that failed (or is somehow still pending) is skipped: rates span the one before it.
    const before = had === undefined ? null : had.samples !== null ? { at: had.at, samples: had.samples } : had.before;
    const next: Scrapes = { at: now, current: group.admin.metrics().then(parseExposition), before, samples: null };
    next.current.then((samples) => (next.samples = samples), () => {});
    scrapes.set(key, next);
    return next;
  };
  return {
    name: "the balancers' /metrics",
    async read(group: GroupTarget, metric: DemandMetric, now: number): Promise<Reading> {
      if (metric.kind === "promql") return { value: null, error: "a PromQL demand needs a Prometheus server (farmhand runs one when the prometheus package is installed)" };
      const scraped = scrape(group, now);
      let samples: Sample[];
      try {
        samples = await scraped.current;
      } catch (error) {
        return { value: null, error: `cannot read ${group.balancer}'s metrics: ${(error as Error).message}` };
      }
      const pool = { pool: group.pool };
      if (metric.kind === "in-flight") {
        const v = sumOf(samples, "farmhand_in_flight_requests", pool);
        return v === null ? { value: null, error: `${group.balancer} reports no pool ${group.pool}` } : { value: v, at: now };
      }
      const before = scraped.before;
      if (before === null || now <= before.at) return { value: null, error: "a first scrape: a rate needs two" };
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
