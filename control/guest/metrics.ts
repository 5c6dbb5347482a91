// A service's own Prometheus metrics, which the kit serves at GET /metrics: what only the VM itself
// sees of its traffic (per operation, where a balancer sees per pool), including requests that reach
// it without a balancer (its imports' callers, the farm's probes).
//
// Who may read them: in a farm, the VM is given the SHA-256 of the farm's read-only metrics token
// (FARMHAND_SETTINGS metricsTokenSha256) and asks every scrape for that token, as a balancer's
// admin API does. Given no digest (a service started by hand), it answers only what comes from this
// machine for this machine, the rule a balancer's tokenless admin API follows: a loopback peer, a
// loopback Host (a web page that rebinds its name to 127.0.0.1 still sends its own name) and no
// Origin (a page's request, not a scraper's). So `curl localhost:PORT/metrics` works for a developer,
// and nothing reaches the numbers from elsewhere.
//
// A private registry per server, as the balancer's exporter and the controller's keep: two services in
// one process (the tests) do not mix their counts.

import { createHash, timingSafeEqual } from "node:crypto";
import type http from "node:http";
import { performance } from "node:perf_hooks";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { hostPortOfUrl, isLoopback } from "../../native-free-core/net/address.ts";
import { LATENCY_BUCKETS_SECONDS } from "../../native-free-core/stats/layout.ts";
import { ServiceConfigError } from "./errors.ts";

export const METRICS_PATH = "/metrics";

/** The kit's own paths, as the `operation` of their requests (their `endpoint` is ""). */
export type KitPath = "announce" | "healthz" | "metrics";

/**
 * What one request turned out to be, learnt as the server routes it: an operation of an endpoint,
 * one of the kit's paths, or neither (endpoint and operation "": no route, a 404 or 405).
 */
export interface RequestRecord {
  endpoint: string;
  operation: string;
  /** A contract operation, in flight from its route's match until its answer is done. */
  inFlight: boolean;
}

/** Why a scrape is refused, as the server answers it. */
export interface Refusal {
  readonly status: 401 | 403;
  readonly error: string;
  readonly headers: Readonly<Record<string, string>>;
}

// A missing and a wrong token get the very same answer, so a caller learns nothing about which it was.
const UNAUTHORIZED: Refusal = { status: 401, error: "a valid bearer token is required", headers: { "www-authenticate": "Bearer" } };
const LOOPBACK_ONLY: Refusal = {
  status: 403,
  error: "this service was given no metrics token digest (FARMHAND_SETTINGS metricsTokenSha256): its metrics answer only on loopback",
  headers: {},
};

/**
 * How often the event-loop lag is sampled: prom-client's 10 ms default wakes every VM a hundred times
 * a second, idle or not, on hosts that run many of them; lags worth seeing last longer than that.
 */
const EVENT_LOOP_SAMPLING_MS = 100;

const sha256 = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest();

export class ServiceMetrics {
  readonly #registry = new Registry();
  readonly #digest: Buffer | null;
  readonly #requests: Counter<"endpoint" | "operation" | "code">;
  readonly #duration: Histogram<"endpoint" | "operation">;
  readonly #inFlight: Gauge<"endpoint" | "operation">;
  #processMetrics = false;

  /** `tokenSha256`: the metrics token's SHA-256 in hex, or null (loopback only). */
  constructor(tokenSha256: string | null) {
    if (tokenSha256 !== null && !/^[0-9a-f]{64}$/i.test(tokenSha256)) throw new ServiceConfigError("the metrics token digest is not a SHA-256 (64 hex digits)");
    this.#digest = tokenSha256 === null ? null : Buffer.from(tokenSha256, "hex");
    const registers = [this.#registry];
    this.#requests = new Counter({
      name: "farmhand_service_requests_total",
      help: "Requests answered (or cut off: code \"aborted\"), by endpoint and operation (the kit's own paths have endpoint \"\"; requests no route matched have neither) and status code.",
      labelNames: ["endpoint", "operation", "code"],
      registers,
    });
    this.#duration = new Histogram({
      name: "farmhand_service_request_duration_seconds",
      help: "Time from a contract operation's request to the end of its answer, body reading and validation included, by endpoint and operation.",
      labelNames: ["endpoint", "operation"],
      // The balancers' buckets: a backend's latency seen by its balancer and by itself compare bucket for bucket.
      buckets: [...LATENCY_BUCKETS_SECONDS],
      registers,
    });
    this.#inFlight = new Gauge({
      name: "farmhand_service_in_flight_requests",
      help: "Contract operations being served now, by endpoint and operation.",
      labelNames: ["endpoint", "operation"],
      registers,
    });
  }

  /**
   * Every operation shows from the first scrape, at 0: a series that appears only with its first
   * request makes that request invisible to rate() and increase().
   */
  declare(endpoint: string, operation: string): void {
    this.#duration.zero({ endpoint, operation });
    this.#inFlight.set({ endpoint, operation }, 0);
  }

  /** Starts counting a request; the server fills in the record as it routes it. Counted once its answer is done. */
  track(res: http.ServerResponse): RequestRecord {
    const started = performance.now();
    const record: RequestRecord = { endpoint: "", operation: "", inFlight: false };
    res.once("close", () => {
      const code = res.writableFinished ? String(res.statusCode) : "aborted";
      const labels = { endpoint: record.endpoint, operation: record.operation };
      this.#requests.inc({ ...labels, code });
      if (record.inFlight) {
        this.#inFlight.dec(labels);
        this.#duration.observe(labels, (performance.now() - started) / 1000);
      }
    });
    return record;
  }

  /** The request is operation `operation` of `endpoint`: in flight until its answer is done. */
  operation(record: RequestRecord, endpoint: string, operation: string): void {
    record.endpoint = endpoint;
    record.operation = operation;
    record.inFlight = true;
    this.#inFlight.inc({ endpoint, operation });
  }

  kitPath(record: RequestRecord, path: KitPath): void {
    record.operation = path;
  }

  /** Null when `req` may read the metrics; otherwise how to refuse it. */
  refusal(req: http.IncomingMessage): Refusal | null {
    if (this.#digest !== null) {
      const m = /^Bearer[ \t]+(.*?)[ \t]*$/i.exec(req.headers.authorization ?? "");
      // Digests of equal length: the comparison takes the same time whatever was presented.
      return m !== null && timingSafeEqual(sha256(m[1]), this.#digest) ? null : UNAUTHORIZED;
    }
    const host = req.headers.host;
    // A Host that is not a bare host[:port] ("name@127.0.0.1") would parse as a URL naming another.
    const named = host === undefined || /[@/\\?#]/.test(host) ? null : hostPortOfUrl(`http://${host}/`);
    const local = isLoopback(req.socket.remoteAddress ?? "") && req.headers.origin === undefined && named !== null && isLoopback(named.host);
    return local ? null : LOOPBACK_ONLY;
  }

  async text(): Promise<{ readonly contentType: string; readonly body: string }> {
    if (!this.#processMetrics) {
      // Started by the first scrape: a service nobody scrapes keeps no sampler and no GC observer.
      this.#processMetrics = true;
      collectDefaultMetrics({ register: this.#registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLING_MS });
    }
    return { contentType: this.#registry.contentType, body: await this.#registry.metrics() };
  }
}
