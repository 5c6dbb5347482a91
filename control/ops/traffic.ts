// A balancer's traffic from two scrapes of its /metrics: per backend and per pool, requests and
// errors per second over the time between them, requests in flight now, and latency quantiles of the
// requests in between (from the histogram buckets' increase, as PromQL's histogram_quantile over a
// rate reads them). A counter that went down (a balancer started again) counts from zero.

import { quantileBetween, sumOf, type Sample } from "../metrics/exposition.ts";

/** One scrape of a balancer's /metrics, and when it was taken (ms since the epoch). */
export interface Scrape {
  readonly at: number;
  readonly samples: readonly Sample[];
}

const total = (samples: readonly Sample[], name: string, match: Readonly<Record<string, string>> = {}): number => sumOf(samples, name, match) ?? 0;
const select = (samples: readonly Sample[], name: string): Sample[] => samples.filter((s) => s.name === name);

export interface Latency {
  readonly p50Ms: number;
  readonly p95Ms: number;
}

export interface TrafficFigures {
  /** Per second between the two scrapes; null with a single scrape. */
  readonly requestsPerSecond: number | null;
  readonly errorsPerSecond: number | null;
  /** Requests (HTTP) or connections (TCP) being served at the last scrape. */
  readonly inFlight: number;
  /** Of the requests between the two scrapes; null when there were none (or a single scrape). */
  readonly latency: Latency | null;
  /** Since the balancer started. */
  readonly requests: number;
  readonly errors: number;
}

export interface BackendTraffic extends TrafficFigures {
  readonly pool: string;
  /** "host:port", as the balancer names it (a VM's address). */
  readonly backend: string;
}

export interface PoolTraffic extends TrafficFigures {
  readonly pool: string;
  /** Requests answered 503 because no backend was routable, per second. */
  readonly noBackendPerSecond: number | null;
}

export interface BalancerTraffic {
  readonly at: number;
  readonly pools: readonly PoolTraffic[];
  readonly backends: readonly BackendTraffic[];
}

const P = "farmhand_";
/** What counts as a failed request at a backend: a 5xx from it, or a reset, timeout or refused connection. */
const BACKEND_ERRORS = ["upstream_errors_total", "upstream_timeouts_total", "upstream_connect_errors_total"];

export function balancerTraffic(now: Scrape, before: Scrape | null): BalancerTraffic {
  const seconds = before === null ? 0 : (now.at - before.at) / 1000;
  const rate = (current: number, previous: number | null): number | null => {
    if (before === null || seconds <= 0 || previous === null) return null;
    return Math.max(0, current >= previous ? current - previous : current) / seconds;
  };
  const pools = [...new Set(select(now.samples, `${P}responses_total`).map((s) => s.labels.pool))].sort();
  const backendKeys = [...new Map(select(now.samples, `${P}backend_in_flight_requests`).map((s) => [`${s.labels.pool}\0${s.labels.backend}`, s.labels])).values()];

  const backendCounts = (samples: readonly Sample[], match: Record<string, string>) => ({
    requests: total(samples, `${P}backend_responses_total`, match),
    errors: total(samples, `${P}backend_responses_total`, { ...match, class: "5xx" }) + BACKEND_ERRORS.reduce((sum, name) => sum + total(samples, P + name, match), 0),
  });
  const backends: BackendTraffic[] = backendKeys.map(({ pool, backend }) => {
    const match = { pool, backend };
    const cur = backendCounts(now.samples, match);
    const prev = before === null || sumOf(before.samples, `${P}backend_in_flight_requests`, match) === null ? null : backendCounts(before.samples, match);
    return {
      pool,
      backend,
      requestsPerSecond: rate(cur.requests, prev?.requests ?? null),
      errorsPerSecond: rate(cur.errors, prev?.errors ?? null),
      inFlight: total(now.samples, `${P}backend_in_flight_requests`, match),
      latency: latencyBetween(now.samples, before?.samples ?? null, `${P}backend_request_duration_seconds`, match),
      requests: cur.requests,
      errors: cur.errors,
    };
  });
  const poolTraffic: PoolTraffic[] = pools.map((pool) => {
    const match = { pool };
    const count = (samples: readonly Sample[]) => ({
      requests: total(samples, `${P}responses_total`, match),
      errors: total(samples, `${P}responses_total`, { ...match, class: "5xx" }),
      noBackend: total(samples, `${P}no_backend_total`, match),
    });
    const cur = count(now.samples);
    const prev = before === null ? null : count(before.samples);
    return {
      pool,
      requestsPerSecond: rate(cur.requests, prev?.requests ?? null),
      errorsPerSecond: rate(cur.errors, prev?.errors ?? null),
      noBackendPerSecond: rate(cur.noBackend, prev?.noBackend ?? null),
      inFlight: total(now.samples, `${P}in_flight_requests`, match),
      latency: latencyBetween(now.samples, before?.samples ?? null, `${P}request_duration_seconds`, match),
      requests: cur.requests,
      errors: cur.errors,
    };
  });
  return { at: now.at, pools: poolTraffic, backends };
}

/** p50 and p95 of what a histogram observed between two scrapes; null when it observed nothing. */
function latencyBetween(now: readonly Sample[], before: readonly Sample[] | null, family: string, match: Record<string, string>): Latency | null {
  if (before === null) return null;
  // A balancer that started again counts from zero: its buckets since then are the increase.
  const reset = (sumOf(now, `${family}_count`, match) ?? 0) < (sumOf(before, `${family}_count`, match) ?? 0);
  const p50 = quantileBetween(reset ? [] : before, now, family, match, 0.5);
  const p95 = quantileBetween(reset ? [] : before, now, family, match, 0.95);
  return p50 === null || p95 === null ? null : { p50Ms: p50 * 1000, p95Ms: p95 * 1000 };
}
