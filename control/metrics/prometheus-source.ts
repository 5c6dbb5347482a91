// Demand from a Prometheus server, through its HTTP API (GET /api/v1/query, undici). The built-in
// demand metrics are PromQL over what the farm's balancers export, found by the labels the farm's
// scrape targets carry (farmhand_farm, farmhand_balancer); any other query is sent as written.
// An empty result is missing data, never 0: reading it as 0 would scale a busy group to its minimum
// the moment a scrape was lost.

import { request } from "undici";
import { readLimitedText } from "../../native-free-core/net/read-limited.ts";
import type { Reading } from "../autoscale/decide.ts";
import type { DemandMetric } from "../autoscale/policy.ts";
import type { GroupTarget, MetricsSource } from "./source.ts";

export interface PrometheusOptions {
  /** e.g. "http://127.0.0.1:9090" */
  readonly url: string;
  /** A bearer token, or basic credentials, for a server that wants them. */
  readonly auth?: { readonly bearer: string } | { readonly username: string; readonly password: string };
  /** The window of rate() and the quantile's rate; a few scrape intervals. Default "10s". */
  readonly rateWindow?: string;
  readonly timeoutMs?: number;
}

/** The PromQL a built-in demand metric stands for, for one group. */
export function promqlFor(group: Pick<GroupTarget, "farm" | "balancer" | "pool">, metric: DemandMetric, rateWindow = "10s"): string {
  const sel = `farmhand_farm="${group.farm}",farmhand_balancer="${group.balancer}",pool="${group.pool}"`;
  switch (metric.kind) {
    case "request-rate": return `sum(rate(farmhand_responses_total{${sel}}[${rateWindow}]))`;
    case "in-flight": return `sum(farmhand_in_flight_requests{${sel}})`;
    case "latency": return `histogram_quantile(${metric.quantile}, sum by (le) (rate(farmhand_request_duration_seconds_bucket{${sel}}[${rateWindow}])))`;
    case "promql": return metric.query;
  }
}

/** An instant query that sums to one series answers in well under a kilobyte. */
const ANSWER_LIMIT = 1024 * 1024;

export function prometheusSource(options: PrometheusOptions): MetricsSource {
  const base = options.url.replace(/\/+$/, "");
  const timeout = options.timeoutMs ?? 5_000;
  const headers: Record<string, string> = options.auth === undefined ? {}
    : "bearer" in options.auth ? { authorization: `Bearer ${options.auth.bearer}` }
    : { authorization: `Basic ${Buffer.from(`${options.auth.username}:${options.auth.password}`).toString("base64")}` };
  return {
    name: `prometheus at ${base}`,
    async read(group: GroupTarget, metric: DemandMetric, now: number): Promise<Reading> {
      const query = promqlFor(group, metric, options.rateWindow);
      let body: { status?: string; error?: string; data?: { resultType?: string; result?: unknown } };
      let response: Awaited<ReturnType<typeof request>>;
      try {
        response = await request(`${base}/api/v1/query?${new URLSearchParams({ query })}`, { headers, headersTimeout: timeout, bodyTimeout: timeout });
      } catch (error) {
        return { value: null, error: `prometheus at ${base} unreachable: ${(error as Error).message}` };
      }
      try {
        body = JSON.parse(await readLimitedText(response.body, ANSWER_LIMIT, `prometheus at ${base}`)) as typeof body;
      } catch (error) {
        return { value: null, error: `prometheus at ${base} answered ${response.statusCode} with no usable answer: ${(error as Error).message}` };
      }
      if (response.statusCode !== 200) return { value: null, error: `prometheus answered ${response.statusCode}: ${body.error ?? "?"}` };
      return readInstant(body.data, now, query);
    },
  };
}

/** The one number of an instant query's answer: a scalar, or a vector of exactly one sample. */
function readInstant(data: { resultType?: string; result?: unknown } | undefined, now: number, query: string): Reading {
  const sample = (pair: unknown): Reading => {
    const [, text] = Array.isArray(pair) ? pair : [];
    const value = Number(text);
    return Number.isFinite(value) ? { value, at: now } : { value: null, error: `${query} is ${String(text)}` };
  };
  if (data?.resultType === "scalar") return sample(data.result);
  if (data?.resultType !== "vector" || !Array.isArray(data.result)) return { value: null, error: `${query}: not an instant vector or scalar` };
  if (data.result.length === 0) return { value: null, error: `${query}: no data (missing series, not 0)` };
  if (data.result.length > 1) return { value: null, error: `${query}: ${data.result.length} series; sum them to one` };
  return sample((data.result[0] as { value?: unknown }).value);
}
