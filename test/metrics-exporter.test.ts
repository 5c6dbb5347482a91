import { test } from "uvu";
import * as assert from "uvu/assert";
import { register as globalRegistry } from "prom-client";
import { MetricsExporter } from "../native-free-core/stats/exporter.ts";
import { StatsReader } from "../native-free-core/stats/reader.ts";
import {
  BACKEND,
  LATENCY_BUCKETS_SECONDS,
  LATENCY_BUCKET_COUNT,
  POOL,
  allocateSharedStats,
  backendOffset,
  poolOffset,
  type StatsCapacity,
} from "../native-free-core/stats/layout.ts";
import type { BackendLifecycle, BackendStatus, PoolStatus } from "../native-free-core/status.ts";

// --- a tiny exposition parser: enough to check what a Prometheus server would read -------------

interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

interface Exposition {
  readonly samples: Sample[];
  readonly types: Map<string, string>;
}

function parse(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    if (line.startsWith("# TYPE ")) {
      const [name, type] = line.slice(7).split(" ");
      assert.not.ok(types.has(name), `one TYPE line per family: ${name}`);
      types.set(name, type);
      continue;
    }
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `valid sample line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      for (const pair of m[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2];
    }
    const value = m[3] === "+Inf" ? Infinity : Number(m[3]);
    assert.ok(!Number.isNaN(value), `numeric value: ${line}`);
    samples.push({ name: m[1], labels, value });
  }
  return { samples, types };
}

function find(e: Exposition, name: string, labels: Record<string, string>): Sample[] {
  return e.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

function value(e: Exposition, name: string, labels: Record<string, string>): number {
  const found = find(e, name, labels);
  assert.is(found.length, 1, `exactly one ${name} ${JSON.stringify(labels)} (found ${found.length})`);
  return found[0].value;
}

// --- fixtures ----------------------------------------------------------------------------------

const CAPACITY: StatsCapacity = { workers: 2, pools: 2, backends: 4 };
const FAR_FUTURE = Date.now() + 3_600_000;

function backend(port: number, slot: number, over: Partial<BackendStatus> = {}): BackendStatus {
  return {
    id: `127.0.0.1:${port}`,
    address: "127.0.0.1",
    port,
    weight: 1,
    lifecycle: "active" as BackendLifecycle,
    healthy: true,
    ejectedUntil: null,
    ejections: 0,
    warmUntil: null,
    routable: true,
    backup: false,
    inFlight: 0,
    slot,
    ...over,
  };
}

function setup() {
  const stats = allocateSharedStats(CAPACITY);
  const view = new Int32Array(stats.counters);
  const reader = new StatsReader(stats);
  let pools: PoolStatus[] = [
    {
      name: "web",
      policy: "round-robin",
      slot: 0,
      backends: [
        backend(9001, 0),
        backend(9002, 1, { healthy: true, ejectedUntil: FAR_FUTURE, ejections: 3, routable: false, lifecycle: "draining" }),
      ],
    },
    { name: "api", policy: "least-request", slot: 1, backends: [backend(9101, 2, { healthy: false, routable: false })] },
  ];
  const exporter = new MetricsExporter(reader, () => pools);
  const addPool = (worker: number, slot: number, field: number, n: number) =>
    Atomics.add(view, poolOffset(CAPACITY, worker, slot) + field, n);
  const addBackend = (worker: number, slot: number, field: number, n: number) =>
    Atomics.add(view, backendOffset(CAPACITY, worker, slot) + field, n);
  const scrape = async () => {
    const { contentType, body } = await exporter.text();
    assert.match(contentType, /^text\/plain; version=0\.0\.4/);
    return parse(body);
  };
  return {
    addPool,
    addBackend,
    scrape,
    setPools: (next: PoolStatus[]) => {
      pools = next;
    },
    pools: () => pools,
  };
}

// --- tests -------------------------------------------------------------------------------------

test("counters sum over workers and survive 32-bit wrap-around between samples", async () => {
  const s = setup();
  s.addPool(0, 0, POOL.RESPONSES_2XX, 2_000_000_000);
  s.addPool(1, 0, POOL.RESPONSES_2XX, 7);
  s.addPool(1, 0, POOL.RESPONSES_5XX, 2);
  s.addBackend(0, 0, BACKEND.CONNECT_ERRORS, 4);

  let e = await s.scrape();
  assert.is(value(e, "farmhand_responses_total", { pool: "web", class: "2xx" }), 2_000_000_007);
  assert.is(value(e, "farmhand_responses_total", { pool: "web", class: "5xx" }), 2);
  assert.is(value(e, "farmhand_responses_total", { pool: "web", class: "1xx" }), 0);
  assert.is(value(e, "farmhand_upstream_connect_errors_total", { pool: "web", backend: "127.0.0.1:9001" }), 4);

  // 2.5e9 more in worker 0's cell: its int32 passes 2^31 (goes negative) and then 2^32 (back to small).
  s.addPool(0, 0, POOL.RESPONSES_2XX, 1_250_000_000);
  s.addPool(0, 0, POOL.RESPONSES_2XX, 1_250_000_000);
  const raw = new Int32Array(1);
  raw[0] = 4_500_000_000;
  assert.ok(raw[0] > 0 && raw[0] < 2 ** 31, "the cell itself has wrapped");
  e = await s.scrape();
  assert.is(value(e, "farmhand_responses_total", { pool: "web", class: "2xx" }), 4_500_000_007);

  // And past 2^32 once more in worker 1's cell, from a negative raw value.
  s.addPool(1, 0, POOL.RESPONSES_2XX, 2_147_483_647);
  e = await s.scrape();
  s.addPool(1, 0, POOL.RESPONSES_2XX, 2_147_483_647);
  s.addPool(1, 0, POOL.RESPONSES_2XX, 10);
  e = await s.scrape();
  assert.is(value(e, "farmhand_responses_total", { pool: "web", class: "2xx" }), 4_500_000_007 + 2 * 2_147_483_647 + 10);
});

test("every *_total family is typed counter, gauges gauge, histograms histogram", async () => {
  const s = setup();
  const e = await s.scrape();
  for (const [name, type] of e.types) {
    assert.ok(name.startsWith("farmhand_"), name);
    if (name.endsWith("_total")) assert.is(type, "counter", name);
    else if (name.endsWith("_seconds")) assert.is(type, "histogram", name);
    else assert.is(type, "gauge", name);
  }
  const expected = [
    "farmhand_responses_total",
    "farmhand_backend_responses_total",
    "farmhand_request_duration_seconds",
    "farmhand_backend_request_duration_seconds",
    "farmhand_in_flight_requests",
    "farmhand_backend_in_flight_requests",
    "farmhand_client_connections",
    "farmhand_client_connections_total",
    "farmhand_rejected_requests_total",
    "farmhand_no_backend_total",
    "farmhand_backend_connections",
    "farmhand_backend_connections_total",
    "farmhand_upstream_connect_errors_total",
    "farmhand_upstream_retries_total",
    "farmhand_upstream_timeouts_total",
    "farmhand_upstream_errors_total",
    "farmhand_backend_ejections_total",
    "farmhand_backend_up",
    "farmhand_backend_routable",
    "farmhand_backend_lifecycle",
  ];
  for (const name of expected) assert.ok(e.types.has(name), `family ${name} is exposed`);
  // Every sample belongs to a declared family.
  for (const sample of e.samples) {
    const family = sample.name.replace(/_(bucket|sum|count)$/, "");
    assert.ok(e.types.has(sample.name) || e.types.get(family) === "histogram", sample.name);
  }
});

test("latency histograms are cumulative, end in +Inf and agree with _count and _sum", async () => {
  const s = setup();
  s.addPool(0, 0, POOL.LATENCY_BUCKET_0 + 0, 3); // <= 0.5 ms
  s.addPool(1, 0, POOL.LATENCY_BUCKET_0 + 3, 2); // <= 5 ms
  s.addPool(1, 0, POOL.LATENCY_BUCKET_0 + LATENCY_BUCKET_COUNT - 1, 1); // > 10 s
  s.addPool(0, 0, POOL.LATENCY_SUM_US, 3 * 300 + 2 * 4_000);
  s.addPool(1, 0, POOL.LATENCY_SUM_US, 20_000_000);
  s.addBackend(0, 1, BACKEND.LATENCY_BUCKET_0 + 5, 4); // <= 25 ms
  s.addBackend(0, 1, BACKEND.LATENCY_SUM_US, 4 * 20_000);

  const e = await s.scrape();
  const web = { pool: "web" };
  const buckets = e.samples.filter((x) => x.name === "farmhand_request_duration_seconds_bucket" && x.labels.pool === "web");
  assert.equal(
    buckets.map((b) => b.labels.le),
    [...LATENCY_BUCKETS_SECONDS.map(String), "+Inf"],
  );
  const counts = buckets.map((b) => b.value);
  for (let i = 1; i < counts.length; i++) assert.ok(counts[i] >= counts[i - 1], "cumulative");
  assert.equal(counts, [3, 3, 3, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 6]);
  assert.is(value(e, "farmhand_request_duration_seconds_count", web), 6);
  assert.ok(Math.abs(value(e, "farmhand_request_duration_seconds_sum", web) - 20.0089) < 1e-9);

  const b = { pool: "web", backend: "127.0.0.1:9002" };
  assert.is(value(e, "farmhand_backend_request_duration_seconds_bucket", { ...b, le: "0.01" }), 0);
  assert.is(value(e, "farmhand_backend_request_duration_seconds_bucket", { ...b, le: "0.025" }), 4);
  assert.is(value(e, "farmhand_backend_request_duration_seconds_bucket", { ...b, le: "+Inf" }), 4);
  assert.is(value(e, "farmhand_backend_request_duration_seconds_count", b), 4);
  assert.ok(Math.abs(value(e, "farmhand_backend_request_duration_seconds_sum", b) - 0.08) < 1e-9);

  // An idle pool still has a complete (all-zero) histogram.
  assert.is(value(e, "farmhand_request_duration_seconds_bucket", { pool: "api", le: "+Inf" }), 0);
  assert.is(value(e, "farmhand_request_duration_seconds_count", { pool: "api" }), 0);
});

test("gauges follow the live values, up and down, summed over workers", async () => {
  const s = setup();
  s.addPool(0, 0, POOL.IN_FLIGHT, 3);
  s.addPool(1, 0, POOL.IN_FLIGHT, 2);
  s.addPool(1, 0, POOL.CLIENT_CONNECTIONS, 5);
  s.addPool(1, 0, POOL.CLIENT_CONNECTIONS_TOTAL, 9);
  s.addBackend(0, 0, BACKEND.CONNECTIONS, 2);
  s.addBackend(1, 0, BACKEND.CONNECTIONS, 1);
  s.addBackend(1, 0, BACKEND.IN_FLIGHT, 1);
  let e = await s.scrape();
  assert.is(value(e, "farmhand_in_flight_requests", { pool: "web" }), 5);
  assert.is(value(e, "farmhand_client_connections", { pool: "web" }), 5);
  assert.is(value(e, "farmhand_client_connections_total", { pool: "web" }), 9);
  assert.is(value(e, "farmhand_backend_connections", { pool: "web", backend: "127.0.0.1:9001" }), 3);
  assert.is(value(e, "farmhand_backend_in_flight_requests", { pool: "web", backend: "127.0.0.1:9001" }), 1);

  s.addPool(0, 0, POOL.IN_FLIGHT, -3);
  s.addPool(1, 0, POOL.IN_FLIGHT, -1);
  s.addBackend(1, 0, BACKEND.IN_FLIGHT, -1);
  e = await s.scrape();
  assert.is(value(e, "farmhand_in_flight_requests", { pool: "web" }), 1);
  assert.is(value(e, "farmhand_backend_in_flight_requests", { pool: "web", backend: "127.0.0.1:9001" }), 0);
  assert.is(value(e, "farmhand_in_flight_requests", { pool: "api" }), 0);
});

test("backend state gauges: up, routable, lifecycle, ejections", async () => {
  const s = setup();
  const e = await s.scrape();
  const a = { pool: "web", backend: "127.0.0.1:9001" };
  const b = { pool: "web", backend: "127.0.0.1:9002" };
  const c = { pool: "api", backend: "127.0.0.1:9101" };
  assert.is(value(e, "farmhand_backend_up", a), 1);
  assert.is(value(e, "farmhand_backend_up", b), 0, "healthy but ejected");
  assert.is(value(e, "farmhand_backend_up", c), 0, "unhealthy");
  assert.is(value(e, "farmhand_backend_routable", a), 1);
  assert.is(value(e, "farmhand_backend_routable", b), 0);
  assert.is(value(e, "farmhand_backend_ejections_total", b), 3);
  assert.is(value(e, "farmhand_backend_ejections_total", a), 0);
  assert.equal(
    find(e, "farmhand_backend_lifecycle", b).map((x) => [x.labels.state, x.value]),
    [
      ["active", 0],
      ["draining", 1],
      ["drained", 0],
    ],
  );
  assert.is(value(e, "farmhand_backend_lifecycle", { ...a, state: "active" }), 1);
  // Per-class backend responses exist for every class.
  assert.is(find(e, "farmhand_backend_responses_total", c).length, 5);

  // An ejection that has run out no longer counts.
  const [web, api] = s.pools();
  s.setPools([{ ...web, backends: [web.backends[0], { ...web.backends[1], ejectedUntil: Date.now() - 1 }] }, api]);
  assert.is(value(await s.scrape(), "farmhand_backend_up", b), 1);
});

test("a backend removed from the statuses disappears from every family", async () => {
  const s = setup();
  s.addBackend(0, 1, BACKEND.RESPONSES_2XX, 11);
  s.addBackend(0, 1, BACKEND.LATENCY_BUCKET_0, 11);
  let e = await s.scrape();
  const gone = "127.0.0.1:9002";
  assert.ok(e.samples.some((x) => x.labels.backend === gone));

  const [web, api] = s.pools();
  s.setPools([{ ...web, backends: [web.backends[0]] }, api]);
  e = await s.scrape();
  assert.equal(
    e.samples.filter((x) => x.labels.backend === gone).map((x) => x.name),
    [],
  );
  assert.ok(e.samples.some((x) => x.labels.backend === "127.0.0.1:9001"), "the others stay");

  // A whole pool going away takes its pool-level series too.
  s.setPools([{ ...web, backends: [web.backends[0]] }]);
  e = await s.scrape();
  assert.equal(e.samples.filter((x) => x.labels.pool === "api"), []);
});

test("uses a private registry: the global one stays empty and two exporters coexist", async () => {
  const one = setup();
  const two = setup();
  one.addPool(0, 0, POOL.REJECTED, 1);
  two.addPool(0, 0, POOL.REJECTED, 2);
  assert.is(value(await one.scrape(), "farmhand_rejected_requests_total", { pool: "web" }), 1);
  assert.is(value(await two.scrape(), "farmhand_rejected_requests_total", { pool: "web" }), 2);
  assert.not.match(await globalRegistry.metrics(), "farmhand_");
});

test("concurrent scrapes each see a complete exposition", async () => {
  const s = setup();
  s.addPool(0, 0, POOL.NO_BACKEND, 5);
  const [a, b] = await Promise.all([s.scrape(), s.scrape()]);
  assert.is(value(a, "farmhand_no_backend_total", { pool: "web" }), 5);
  assert.is(value(b, "farmhand_no_backend_total", { pool: "web" }), 5);
  assert.is(a.samples.length, b.samples.length);
});

test.run();
