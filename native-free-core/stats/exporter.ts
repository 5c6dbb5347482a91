// Prometheus exposition of the shared-memory statistics and of the supervisor's view of backends.
//
// Nothing is recorded here: every value is read at scrape time (from the StatsReader's unwrapped
// totals and from the current pool statuses), so each family is emptied and refilled on every
// scrape. That is also what makes a removed backend's series disappear. The registry is private,
// never prom-client's global one, so two balancers in one process (the tests) don't collide.

import { Counter, Gauge, Registry, type Histogram } from "prom-client";
import type { BackendStatus, BackendLifecycle, PoolStatus, ValidationCounts } from "../status.ts";
import { BACKEND, LATENCY_BUCKETS_SECONDS, LATENCY_BUCKET_COUNT, POOL } from "./layout.ts";
import type { StatsReader } from "./reader.ts";

type Labels = Record<string, string>;
type Emit = (labels: Labels, value: number) => void;

/** What one scrape sees; taken once so every family in a scrape agrees. */
/** What the supervisor counts itself, outside shared memory. */
export interface SupervisorCounters {
  /** Connections each listener (by name) could not accept so far. */
  readonly acceptFailures: ReadonlyMap<string, number>;
  /** The process could not open a file descriptor at its last check. */
  readonly descriptorsExhausted: boolean;
  /** Contract-check counters of the validated listeners. */
  readonly validation?: readonly ValidationCounts[];
}

const NO_SUPERVISOR_COUNTERS: SupervisorCounters = { acceptFailures: new Map(), descriptorsExhausted: false };

interface Scrape {
  readonly pools: readonly PoolStatus[];
  readonly supervisor: SupervisorCounters;
  readonly now: number;
}

const RESPONSE_CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"] as const;
const LIFECYCLES: readonly BackendLifecycle[] = ["active", "draining", "drained"];
const PREFIX = "farmhand_";

export class MetricsExporter {
  readonly #reader: StatsReader;
  readonly #statuses: () => readonly PoolStatus[];
  readonly #counters: () => SupervisorCounters;
  readonly #registry = new Registry();
  #scrape: Scrape = { pools: [], supervisor: NO_SUPERVISOR_COUNTERS, now: 0 };

  constructor(reader: StatsReader, statuses: () => readonly PoolStatus[], counters: () => SupervisorCounters = () => NO_SUPERVISOR_COUNTERS) {
    this.#reader = reader;
    this.#statuses = statuses;
    this.#counters = counters;
    this.#define();
  }

  async text(): Promise<{ readonly contentType: string; readonly body: string }> {
    // One sample and one status snapshot per scrape; the collect callbacks below only read them.
    // registry.metrics() runs every collect synchronously before its first await, so a concurrent
    // scrape cannot swap the snapshot out from under this one.
    this.#reader.sample();
    this.#scrape = { pools: this.#statuses(), supervisor: this.#counters(), now: Date.now() };
    const body = await this.#registry.metrics();
    return { contentType: this.#registry.contentType, body };
  }

  #define(): void {
    const reader = this.#reader;
    const pools = (fn: (pool: PoolStatus, labels: Labels) => void): void => {
      for (const pool of this.#scrape.pools) fn(pool, { pool: pool.name });
    };
    const backends = (fn: (backend: BackendStatus, labels: Labels, pool: PoolStatus) => void): void => {
      for (const pool of this.#scrape.pools) {
        for (const b of pool.backends) fn(b, { pool: pool.name, backend: b.id }, pool);
      }
    };
    const poolField = (field: number) => (emit: Emit) => pools((p, l) => emit(l, reader.pool(p.slot, field)));
    const backendField = (field: number) => (emit: Emit) =>
      backends((b, l) => emit(l, reader.backend(b.slot, field)));

    const counter = this.#counter.bind(this);
    const gauge = this.#gauge.bind(this);
    const POOL_LABELS = ["pool"];
    const BACKEND_LABELS = ["pool", "backend"];

    counter("responses_total", "Responses sent to clients, by status class (from backends or the proxy).", ["pool", "class"], (emit) =>
      pools((p, l) =>
        RESPONSE_CLASSES.forEach((cls, i) => emit({ ...l, class: cls }, reader.pool(p.slot, POOL.RESPONSES_1XX + i))),
      ),
    );
    counter("backend_responses_total", "Responses received from a backend, by status class.", ["pool", "backend", "class"], (emit) =>
      backends((b, l) =>
        RESPONSE_CLASSES.forEach((cls, i) => emit({ ...l, class: cls }, reader.backend(b.slot, BACKEND.RESPONSES_1XX + i))),
      ),
    );

    this.#histogram("request_duration_seconds", "Time from a request's arrival to its response's end, per pool.", (emit) =>
      pools((p, l) => emit(l, (i) => reader.pool(p.slot, POOL.LATENCY_BUCKET_0 + i), reader.pool(p.slot, POOL.LATENCY_SUM_US))),
    );
    this.#histogram("backend_request_duration_seconds", "Time spent on a request by a backend.", (emit) =>
      backends((b, l) =>
        emit(l, (i) => reader.backend(b.slot, BACKEND.LATENCY_BUCKET_0 + i), reader.backend(b.slot, BACKEND.LATENCY_SUM_US)),
      ),
    );

    gauge("in_flight_requests", "Requests (HTTP) or connections (TCP) being served.", POOL_LABELS, poolField(POOL.IN_FLIGHT));
    gauge("client_connections", "Open client connections.", POOL_LABELS, poolField(POOL.CLIENT_CONNECTIONS));
    counter("client_connections_total", "Client connections accepted.", POOL_LABELS, poolField(POOL.CLIENT_CONNECTIONS_TOTAL));
    counter("rejected_requests_total", "Requests refused as malformed (400, 408, 414, 431).", POOL_LABELS, poolField(POOL.REJECTED));
    counter("no_backend_total", "Requests answered 503 because no backend was routable.", POOL_LABELS, poolField(POOL.NO_BACKEND));
    counter("held_total", "Requests held while the pool had no routable backend.", POOL_LABELS, poolField(POOL.HELD));
    counter("accept_failures_total", "Client connections a listener could not accept (EMFILE: out of file descriptors, ...).", ["listener"], (emit) => {
      for (const [listener, count] of this.#scrape.supervisor.acceptFailures) emit({ listener }, count);
    });
    gauge("file_descriptors_exhausted", "1 while the process cannot open a file descriptor, so no listener can accept a connection.", [], (emit) =>
      emit({}, this.#scrape.supervisor.descriptorsExhausted ? 1 : 0),
    );

    counter("validation_requests_total", "Requests on listeners with contract checks, by operation (\"(none)\": matched none) and outcome.", ["listener", "operation", "outcome"], (emit) => {
      for (const l of this.#scrape.supervisor.validation ?? []) {
        for (const op of l.operations) {
          for (const [outcome, n] of Object.entries(op.outcomes)) emit({ listener: l.listener, operation: op.operation, outcome }, n);
        }
      }
    });
    counter("validation_offloaded_total", "Request bodies checked on a validation thread rather than on the I/O thread.", ["listener", "operation"], (emit) => {
      for (const l of this.#scrape.supervisor.validation ?? []) {
        for (const op of l.operations) emit({ listener: l.listener, operation: op.operation }, op.offloaded);
      }
    });

    gauge("backend_in_flight_requests", "Requests (HTTP) or tunnels (TCP) to a backend now.", BACKEND_LABELS, backendField(BACKEND.IN_FLIGHT));
    gauge("backend_connections", "Open upstream connections.", BACKEND_LABELS, backendField(BACKEND.CONNECTIONS));
    counter("backend_connections_total", "Upstream connections opened.", BACKEND_LABELS, backendField(BACKEND.CONNECTIONS_TOTAL));
    counter("upstream_connect_errors_total", "Failed upstream connection attempts.", BACKEND_LABELS, backendField(BACKEND.CONNECT_ERRORS));
    counter("upstream_retries_total", "Requests sent again after a failed reused connection or connect failure.", BACKEND_LABELS, backendField(BACKEND.RETRIES));
    counter("upstream_timeouts_total", "Upstream response timeouts (answered 504).", BACKEND_LABELS, backendField(BACKEND.TIMEOUTS));
    counter("upstream_errors_total", "Upstream resets and malformed responses (answered 502).", BACKEND_LABELS, backendField(BACKEND.UPSTREAM_ERRORS));

    counter("backend_ejections_total", "Times outlier detection ejected a backend.", BACKEND_LABELS, (emit) =>
      backends((b, l) => emit(l, b.ejections)),
    );
    gauge("backend_up", "1 when the backend passes health checks and is not ejected.", BACKEND_LABELS, (emit) =>
      backends((b, l) => emit(l, b.healthy && !this.#ejected(b) ? 1 : 0)),
    );
    gauge("backend_routable", "1 when new requests may be sent to the backend.", BACKEND_LABELS, (emit) =>
      backends((b, l) => emit(l, b.routable ? 1 : 0)),
    );
    gauge("backend_lifecycle", "1 for the backend's current lifecycle state, 0 for the others.", ["pool", "backend", "state"], (emit) =>
      backends((b, l) => {
        for (const state of LIFECYCLES) emit({ ...l, state }, b.lifecycle === state ? 1 : 0);
      }),
    );
  }

  #ejected(b: BackendStatus): boolean {
    return b.ejectedUntil !== null && b.ejectedUntil > this.#scrape.now;
  }

  #counter(name: string, help: string, labelNames: string[], fill: (emit: Emit) => void): void {
    new Counter({
      name: PREFIX + name,
      help,
      labelNames,
      registers: [this.#registry],
      collect() {
        this.reset();
        fill((labels, value) => this.inc(labels, value));
      },
    });
  }

  #gauge(name: string, help: string, labelNames: string[], fill: (emit: Emit) => void): void {
    new Gauge({
      name: PREFIX + name,
      help,
      labelNames,
      registers: [this.#registry],
      collect() {
        this.reset();
        fill((labels, value) => this.set(labels, value));
      },
    });
  }

  #histogram(name: string, help: string, fill: (emit: EmitHistogram) => void): void {
    // The cast: prom-client's typings only admit its own classes, while its registry needs no more
    // than name, help, type and an async get() (see SampledHistogram).
    this.#registry.registerMetric(new SampledHistogram(PREFIX + name, help, fill) as unknown as Histogram);
  }
}

/** Labels, per-bucket (not cumulative) count of bucket i, and the sum in microseconds. */
type EmitHistogram = (labels: Labels, bucket: (i: number) => number, sumUs: number) => void;

interface ExpositionValue {
  readonly metricName: string;
  readonly labels: Labels;
  readonly value: number;
}

/**
 * A histogram family whose observations were counted elsewhere (by the worker threads, into shared
 * memory). prom-client's Histogram can only count observations itself and has no way to be set, so
 * this reports the buckets as they are, in the shape prom-client's registry formats:
 * cumulative `_bucket{le}` series ending in `+Inf`, then `_sum` and `_count` (= the `+Inf` bucket).
 */
class SampledHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = "histogram";
  readonly aggregator = "sum";
  readonly labelNames: readonly string[] = [];
  readonly #fill: (emit: EmitHistogram) => void;

  constructor(name: string, help: string, fill: (emit: EmitHistogram) => void) {
    this.name = name;
    this.help = help;
    this.#fill = fill;
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: ExpositionValue[] }> {
    const values: ExpositionValue[] = [];
    this.#fill((labels, bucket, sumUs) => {
      let cumulative = 0;
      for (let i = 0; i < LATENCY_BUCKET_COUNT; i++) {
        cumulative += bucket(i);
        const le = i < LATENCY_BUCKETS_SECONDS.length ? String(LATENCY_BUCKETS_SECONDS[i]) : "+Inf";
        values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_sum`, labels, value: sumUs / 1e6 });
      values.push({ metricName: `${this.name}_count`, labels, value: cumulative });
    });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** Registry.resetMetrics() calls this; there is nothing kept between scrapes to reset. */
  reset(): void {}
}
