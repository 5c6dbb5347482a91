// The admin API end to end on a real balancer: authentication, pool changes under load, drain and
// removal with a request in flight, and the metrics summed across both worker threads.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { Pool, request } from "undici";
import { startBalancer } from "../native-free-core/index.ts";
import { startBackend, type TestBackend } from "./helpers/backends.ts";
import { EVERY_WORKER, freshConnections } from "./helpers/every-worker.ts";
import { startProxy, waitFor, type ProxyUnderTest } from "./helpers/proxy.ts";
import { hold, spread } from "./helpers/traffic.ts";

const TOKEN = "proxy-admin-test-token-0123456789";
const AUTH = { authorization: `Bearer ${TOKEN}` };
const ADMIN = { admin: { address: "127.0.0.1", port: 0, token: TOKEN } };

interface BackendJson {
  id: string;
  address: string;
  port: number;
  weight: number;
  lifecycle: "active" | "draining" | "drained";
  routable: boolean;
  inFlight: number;
}
interface PoolJson {
  name: string;
  policy: string;
  backends: BackendJson[];
}

async function withProxy(
  names: readonly string[],
  pool: Record<string, unknown>,
  fn: (proxy: ProxyUnderTest, backends: TestBackend[], admin: string) => Promise<void>,
  spare: readonly string[] = [],
  extraPools: readonly Record<string, unknown>[] = [],
): Promise<void> {
  const started = await Promise.all([...names, ...spare].map((n) => startBackend(n)));
  try {
    const backends = started.slice(0, names.length).map((b) => ({ address: b.address, port: b.port }));
    const extra = extraPools.length === 0 ? ADMIN : { ...ADMIN, pools: [{ name: "p", backends, ...pool }, ...extraPools] };
    const proxy = await startProxy(started.slice(0, names.length), pool, extra);
    try {
      assert.ok(proxy.balancer.adminUrl !== null, "the admin API did not start");
      await fn(proxy, started, proxy.balancer.adminUrl!);
    } finally {
      await proxy.stop();
    }
  } finally {
    await Promise.all(started.map((b) => b.close()));
  }
}

async function admin(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = AUTH) {
  const r = await request(`${base}${path}`, {
    method: method as "GET",
    headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.body.text();
  let json: unknown = undefined;
  if (String(r.headers["content-type"] ?? "").startsWith("application/json")) json = JSON.parse(text);
  return { status: r.statusCode, headers: r.headers, text, json: json as any };
}

async function getPool(base: string, name = "p"): Promise<PoolJson> {
  const r = await admin(base, "GET", `/pools/${name}`);
  assert.is(r.status, 200, r.text);
  return r.json as PoolJson;
}

const backendIn = (pool: PoolJson, id: string) => pool.backends.find((b) => b.id === id);
const idPath = (b: TestBackend) => encodeURIComponent(b.id);

/**
 * Sends requests one at a time, each waiting until it is either answered (another backend took it)
 * or held by `gate`'s backend, and stops at the first one held. Returns every answer, pending ones included.
 */
async function untilHeld<T>(gate: { held: () => number }, send: (i: number) => Promise<T>): Promise<Promise<T>[]> {
  const answers: Promise<T>[] = [];
  for (let i = 0; i < 200 && gate.held() === 0; i++) {
    const answer = send(i);
    answers.push(answer);
    await Promise.race([answer, waitFor(() => gate.held() > 0, 10_000, 5)]);
  }
  assert.ok(gate.held() > 0, "no request reached the held backend");
  return answers;
}

// ---- authentication ------------------------------------------------------------------------------

test("admin: missing or wrong token is 401, /healthz is open, GET /pools shows the backends", async () => {
  await withProxy(["a", "b"], {}, async (_proxy, [a, b], base) => {
    const none = await admin(base, "GET", "/pools", undefined, {});
    assert.is(none.status, 401);
    assert.is(none.json.error.code, "FARMHAND_ADMIN_UNAUTHORIZED");
    assert.is(none.headers["www-authenticate"], "Bearer");
    const wrong = await admin(base, "GET", "/pools", undefined, { authorization: "Bearer not-the-right-token-at-all" });
    assert.is(wrong.status, 401);
    const metricsNoToken = await admin(base, "GET", "/metrics", undefined, {});
    assert.is(metricsNoToken.status, 401);
    const putNoToken = await admin(base, "PUT", "/pools/p/backends", [`127.0.0.1:${a.port}`], {});
    assert.is(putNoToken.status, 401);
    const health = await admin(base, "GET", "/healthz", undefined, {});
    assert.is(health.status, 200);
    assert.equal(health.json, { status: "ok" });

    const pools = await admin(base, "GET", "/pools");
    assert.is(pools.status, 200);
    assert.is(pools.json.pools.length, 1);
    const p = pools.json.pools[0] as PoolJson;
    assert.is(p.name, "p");
    assert.is(p.policy, "round-robin");
    assert.equal(p.backends.map((x) => x.id).sort(), [a.id, b.id].sort());
    for (const x of p.backends) {
      assert.is(x.lifecycle, "active");
      assert.is(x.routable, true);
      assert.is(x.weight, 1);
      assert.not.ok("slot" in x, "internal slot leaked into the API");
    }
    assert.is((await admin(base, "GET", "/pools/nope")).status, 404);
  });
});

// ---- replacing the backends under load -----------------------------------------------------------

test("admin: PUT /pools/p/backends under load drops nothing, then only the new set gets traffic", async () => {
  await withProxy(["a", "b"], {}, async (proxy, [a, b, c, d], base) => {
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    let done = 0;
    let stop = false;
    const loadPools = Array.from({ length: 3 }, () => new Pool(proxy.url, { connections: 4 }));
    const loops = loadPools.flatMap((pool, p) =>
      Array.from({ length: 4 }, async (_, k) => {
        for (let i = 0; !stop; i++) {
          try {
            const r = await pool.request({ path: `/load/${p}/${k}/${i}`, method: "GET" });
            await r.body.text();
            statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
          } catch (error) {
            failures.push(String(error));
          }
          done++;
        }
      }),
    );
    try {
      assert.ok(await waitFor(() => done >= 200, 10_000), "the load did not get going");
      const put = await admin(base, "PUT", "/pools/p/backends", [`127.0.0.1:${c.port}`, { address: "127.0.0.1", port: d.port }]);
      assert.is(put.status, 200, put.text);
      const ids = (put.json as PoolJson).backends.map((x) => `${x.id}=${x.lifecycle}`).sort();
      assert.ok(ids.includes(`${c.id}=active`) && ids.includes(`${d.id}=active`), ids.join(", "));
      // The old ones drain and are then forgotten.
      const gone = await waitFor(async () => {
        const p = await getPool(base);
        return p.backends.length === 2 && backendIn(p, a.id) === undefined && backendIn(p, b.id) === undefined;
      }, 10_000, 50);
      assert.ok(gone, `old backends still listed: ${JSON.stringify((await getPool(base)).backends.map((x) => [x.id, x.lifecycle]))}`);
      const mark = done;
      assert.ok(await waitFor(() => done >= mark + 200, 10_000), "the load stalled after the change");
    } finally {
      stop = true;
      await Promise.all(loops);
      await Promise.all(loadPools.map((p) => p.close()));
    }
    assert.equal(failures.slice(0, 5), [], `${failures.length} requests failed`);
    assert.equal([...statuses.keys()], [200], `statuses: ${JSON.stringify(Object.fromEntries(statuses))}`);
    assert.ok(c.received.length + d.received.length > 0);

    const aBefore = a.received.length;
    const bBefore = b.received.length;
    const after = await spread(proxy.url, 200, 8);
    assert.is(a.received.length, aBefore, "a removed backend still got requests");
    assert.is(b.received.length, bBefore, "a removed backend still got requests");
    assert.is((after.get("c") ?? 0) + (after.get("d") ?? 0), 200, JSON.stringify(Object.fromEntries(after)));
    assert.ok((after.get("c") ?? 0) > 0 && (after.get("d") ?? 0) > 0);
  }, ["c", "d"]);
});

// ---- add, weight, drain, delete ------------------------------------------------------------------

test("admin: POST a backend, PATCH its weight, drain it with a request in flight, DELETE it", async () => {
  await withProxy(["a", "b"], {}, async (proxy, [a, b, c], base) => {
    const post = await admin(base, "POST", "/pools/p/backends", { address: "127.0.0.1", port: c.port, weight: 1 });
    assert.is(post.status, 201, post.text);
    assert.is(post.headers.location, `/pools/p/backends/${encodeURIComponent(c.id)}`);
    assert.is(backendIn(post.json, c.id)?.lifecycle, "active");

    // Equal weights: c gets about a third.
    const even = await spread(proxy.url, 300, 6);
    const evenShare = (even.get("c") ?? 0) / 300;
    assert.ok(Math.abs(evenShare - 1 / 3) <= 0.07, `c's share at weight 1: ${evenShare} ${JSON.stringify(Object.fromEntries(even))}`);

    const patch = await admin(base, "PATCH", `/pools/p/backends/${idPath(c)}`, { weight: 4 });
    assert.is(patch.status, 200, patch.text);
    assert.is(backendIn(patch.json, c.id)?.weight, 4);
    // Weights 1:1:4: c gets about two thirds.
    const heavy = await spread(proxy.url, 300, 6);
    const heavyShare = (heavy.get("c") ?? 0) / 300;
    assert.ok(Math.abs(heavyShare - 4 / 6) <= 0.07, `c's share at weight 4: ${heavyShare} ${JSON.stringify(Object.fromEntries(heavy))}`);
    assert.is((await admin(base, "PATCH", `/pools/p/backends/${idPath(c)}`, { weight: 0 })).status, 400);

    // A request in flight on c when it starts draining.
    const gate = hold(c);
    const client = new Pool(proxy.url, { connections: 8 });
    try {
      const answers = await untilHeld(gate, (i) =>
        client.request({ path: `/held${i}`, method: "GET" }).then(async (r) => {
          await r.body.text();
          return { status: r.statusCode, backend: String(r.headers["x-backend"]) };
        }),
      );
      assert.is(gate.held(), 1, "exactly one request is held by c");
      const receivedByC = c.received.length;

      const drain = await admin(base, "POST", `/pools/p/backends/${idPath(c)}/drain`);
      assert.is(drain.status, 202, drain.text);
      const draining = await getPool(base);
      assert.is(backendIn(draining, c.id)?.lifecycle, "draining");
      assert.is(backendIn(draining, c.id)?.routable, false);
      assert.is(backendIn(draining, c.id)?.inFlight, 1);

      // New requests go elsewhere while c finishes the one it has.
      const meanwhile = await spread(proxy.url, 100, 4);
      assert.is(meanwhile.get("c") ?? 0, 0, JSON.stringify(Object.fromEntries(meanwhile)));
      assert.is(c.received.length, receivedByC);
      assert.is(backendIn(await getPool(base), c.id)?.lifecycle, "draining", "drained with a request still in flight");

      gate.release();
      const results = await Promise.all(answers);
      assert.ok(results.every((r) => r.status === 200), JSON.stringify(results));
      assert.is(results.filter((r) => r.backend === "c").length, 1, "the held request was not answered by c");

      assert.ok(
        await waitFor(async () => backendIn(await getPool(base), c.id)?.lifecycle === "drained", 5000, 20),
        "c never reported drained",
      );
      const drained = backendIn(await getPool(base), c.id)!;
      assert.is(drained.inFlight, 0);
      // Drained, not removed: still listed, still unused.
      await spread(proxy.url, 100, 4);
      assert.is(c.received.length, receivedByC);

      const del = await admin(base, "DELETE", `/pools/p/backends/${idPath(c)}`);
      assert.is(del.status, 202, del.text);
      assert.ok(
        await waitFor(async () => backendIn(await getPool(base), c.id) === undefined, 5000, 20),
        "a drained backend was not removed",
      );
      assert.is((await admin(base, "DELETE", `/pools/p/backends/${idPath(c)}`)).status, 404);

      // DELETE of an active backend with a request in flight: it drains first, then disappears.
      const gateA = hold(a);
      const answersA = await untilHeld(gateA, (i) =>
        client.request({ path: `/a${i}`, method: "GET" }).then(async (r) => (await r.body.text(), r.statusCode)),
      );
      assert.is(gateA.held(), 1, "exactly one request is held by a");
      const delA = await admin(base, "DELETE", `/pools/p/backends/${idPath(a)}`);
      assert.is(delA.status, 202);
      assert.is(backendIn(delA.json, a.id)?.lifecycle, "draining");
      const aCount = a.received.length;
      const rest = await spread(proxy.url, 50, 4);
      assert.is(rest.get("b"), 50);
      assert.is(a.received.length, aCount);
      assert.ok(backendIn(await getPool(base), a.id) !== undefined, "removed before its request finished");
      gateA.release();
      assert.ok((await Promise.all(answersA)).every((s) => s === 200));
      assert.ok(await waitFor(async () => backendIn(await getPool(base), a.id) === undefined, 5000, 20), "a was not removed after draining");
      assert.equal((await getPool(base)).backends.map((x) => x.id), [b.id]);
    } finally {
      await client.close();
    }
  }, ["c"]);
});

// ---- metrics -------------------------------------------------------------------------------------

/** The value of the sample `name{labels...}` in Prometheus text, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have: Record<string, string> = {};
    for (const pair of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have[pair[1]] = pair[2];
    if (Object.entries(labels).every(([k, v]) => have[k] === v) && Object.keys(have).length === Object.keys(labels).length) {
      return Number(m[3]);
    }
  }
  return undefined;
}

test("admin: /metrics sums both workers: responses by class, latency histogram, backend_up, per-backend counters", async () => {
  await withProxy(["a", "b"], {}, async (proxy, [a, b], base) => {
    const N = 240;
    // 16 connections: the kernel spreads them over both workers.
    const counts = await spread(proxy.url, N, 16);
    assert.is((counts.get("a") ?? 0) + (counts.get("b") ?? 0), N);
    // Two 404s from a backend: counted as 4xx.
    a.handle = (_req, res) => {
      res.writeHead(404, { "content-length": 0, "x-backend": "a" });
      res.end();
    };
    b.handle = a.handle;
    for (let i = 0; i < 2; i++) {
      const r = await request(`${proxy.url}/missing${i}`);
      await r.body.text();
      assert.is(r.statusCode, 404);
    }

    const r = await admin(base, "GET", "/metrics");
    assert.is(r.status, 200);
    assert.match(String(r.headers["content-type"]), /^text\/plain/);
    const text = r.text;
    const p = { pool: "p" };
    assert.is(sample(text, "farmhand_responses_total", { ...p, class: "2xx" }), N, "2xx total across workers");
    assert.is(sample(text, "farmhand_responses_total", { ...p, class: "4xx" }), 2);
    assert.is(sample(text, "farmhand_responses_total", { ...p, class: "5xx" }), 0);
    assert.is(sample(text, "farmhand_request_duration_seconds_count", p), N + 2);
    assert.is(sample(text, "farmhand_request_duration_seconds_bucket", { ...p, le: "+Inf" }), N + 2);
    const sum = sample(text, "farmhand_request_duration_seconds_sum", p);
    assert.ok(sum !== undefined && sum > 0, `latency sum ${sum}`);
    // Buckets are cumulative.
    let previous = 0;
    for (const le of ["0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]) {
      const v = sample(text, "farmhand_request_duration_seconds_bucket", { ...p, le });
      assert.ok(v !== undefined && v >= previous, `bucket le=${le}: ${v} after ${previous}`);
      previous = v!;
    }
    // At least the 16 of the load (undici may open more than one connection for the two 404s).
    const accepted = sample(text, "farmhand_client_connections_total", p);
    assert.ok(accepted !== undefined && accepted >= 17, `client connections: ${accepted}`);

    let backend2xx = 0;
    let backendAll = 0;
    for (const x of [a, b]) {
      const l = { pool: "p", backend: x.id };
      assert.is(sample(text, "farmhand_backend_up", l), 1, `backend_up for ${x.id}`);
      assert.is(sample(text, "farmhand_backend_routable", l), 1);
      assert.is(sample(text, "farmhand_backend_lifecycle", { ...l, state: "active" }), 1);
      const ok = sample(text, "farmhand_backend_responses_total", { ...l, class: "2xx" });
      assert.is(ok, counts.get(x.name) ?? 0, `2xx of ${x.name}`);
      backend2xx += ok!;
      backendAll += ok! + sample(text, "farmhand_backend_responses_total", { ...l, class: "4xx" })!;
      assert.is(sample(text, "farmhand_backend_request_duration_seconds_count", l), ok! + sample(text, "farmhand_backend_responses_total", { ...l, class: "4xx" })!);
      const opened = sample(text, "farmhand_backend_connections_total", l);
      assert.ok(opened !== undefined && opened >= 1 && opened === x.connections(), `connections to ${x.name}: metric ${opened}, backend saw ${x.connections()}`);
      assert.is(sample(text, "farmhand_backend_in_flight_requests", l), 0);
    }
    assert.is(backend2xx, N);
    assert.is(backendAll, N + 2);
  });
});

// ---- refused changes change nothing ----------------------------------------------------------------

/** `n` distinct backends that nothing listens on (no traffic is sent to them). */
const idle = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `127.0.0.1:${10_000 + from + i}`);

test("admin: a PUT past the statistics capacity (4096 backends) is a 409 that changes nothing, in the supervisor or any worker", async () => {
  await withProxy(["a"], {}, async (proxy, [a, b], base) => {
    const put = await admin(base, "PUT", "/pools/p/backends", [a.id, ...idle(4096)]);
    assert.is(put.status, 409, put.text);
    assert.is(put.json.error.code, "FARMHAND_STATS_CAPACITY");
    assert.equal((await getPool(base)).backends.map((x) => `${x.id}=${x.lifecycle}`), [`${a.id}=active`]);
    assert.equal(await freshConnections(proxy.url), { a: EVERY_WORKER });

    // A change after it applies as if the refused one never happened.
    const next = await admin(base, "PUT", "/pools/p/backends", [b.id]);
    assert.is(next.status, 200, next.text);
    assert.equal(await freshConnections(proxy.url), { b: EVERY_WORKER });
    assert.ok(await waitFor(async () => (await getPool(base)).backends.length === 1, 5000, 20), "the old backend was never forgotten");
  }, ["b"]);
});

test("admin: at capacity, POST and PUT of one backend more are 409s that change nothing; freeing slots lets them through", async () => {
  await withProxy(["a"], {}, async (proxy, [a, b], base) => {
    // "big" holds every slot but a's; nothing routes to it.
    const fill = await admin(base, "PUT", "/pools/big/backends", idle(4095));
    assert.is(fill.status, 200, fill.text);
    const post = await admin(base, "POST", "/pools/p/backends", { address: b.address, port: b.port });
    assert.is(post.status, 409, post.text);
    const put = await admin(base, "PUT", "/pools/p/backends", [a.id, b.id]);
    assert.is(put.status, 409, put.text);
    assert.equal((await getPool(base)).backends.map((x) => `${x.id}=${x.lifecycle}=${x.weight}`), [`${a.id}=active=1`]);
    assert.equal(await freshConnections(proxy.url), { a: EVERY_WORKER });
    // Re-adding a backend the pool has needs no slot (the weight then changes, and back).
    assert.is((await admin(base, "POST", "/pools/p/backends", { address: a.address, port: a.port, weight: 2 })).status, 201);
    assert.is((await admin(base, "POST", "/pools/p/backends", { address: a.address, port: a.port })).status, 201);

    assert.is((await admin(base, "PUT", "/pools/big/backends", [])).status, 200);
    assert.ok(await waitFor(async () => (await getPool(base, "big")).backends.length === 0, 5000, 20), "big's backends were not forgotten");
    const again = await admin(base, "POST", "/pools/p/backends", { address: b.address, port: b.port });
    assert.is(again.status, 201, again.text);
    const counts = await freshConnections(proxy.url);
    assert.ok((counts.a ?? 0) > 0 && (counts.b ?? 0) > 0 && counts.a + counts.b === EVERY_WORKER, JSON.stringify(counts));
  }, ["b"], [{ name: "big" }]);
});

// ---- hostile bodies -------------------------------------------------------------------------------

test("admin: hostile bodies get a 4xx from every route, never a 500, and change nothing", async () => {
  await withProxy(["a"], {}, async (proxy, [a], base) => {
    const deep = 100_000;
    const bodies: (string | Buffer)[] = [
      "[".repeat(deep) + "]".repeat(deep),
      '{"a":'.repeat(deep) + "1" + "}".repeat(deep),
      "[".repeat(deep),
      `[${"[".repeat(64)}${"]".repeat(64)}]`,
      `{"address":"127.0.0.1","port":1e400,"weight":1e400}`,
      `[{"address":"127.0.0.1","port":${"9".repeat(5000)}}]`,
      `{"weight":${"9".repeat(5000)}}`,
      `{"weight":-0}`,
      `{"weight":1e308}`,
      "null", "true", "123", `"x"`, "{}", "[null]", "[[]]", `[{}]`,
      `[{"address":["127.0.0.1"],"port":"80"}]`,
      `{"address":{"toString":1},"port":80}`,
      `{"__proto__":{"weight":5}}`,
      `{"__proto__":{"address":"127.0.0.1","port":${a.port}}}`,
      `[{"__proto__":{"address":"127.0.0.1","port":${a.port}}}]`,
      `{"address":"127.0.0.1","port":${a.port},"__proto__":null}`,
      `{"constructor":{"prototype":{"polluted":1}},"address":"127.0.0.1","port":${a.port}}`,
      `["LOCALHOST:80","localhost:80"]`,
      `{"address":"${"a".repeat(500_000)}","port":80}`,
      `{"address":"127.0.0.1\u0000","port":80}`,
      `{"address":"\ud800","port":80}`,
      `["169.254.169.254:80"]`,
      `{"address":"::ffff:169.254.169.254","port":80}`,
      Buffer.from([0xff, 0xfe, 0x5b, 0x5d]),
      "",
    ];
    const missing = encodeURIComponent("127.0.0.1:1");
    const routes: [method: string, path: string, readsBody: boolean][] = [
      ["GET", "/healthz", false],
      ["GET", "/metrics", false],
      ["GET", "/workers", false],
      ["GET", "/pools", false],
      ["GET", "/pools/p", false],
      ["PUT", "/pools/p/backends", true],
      ["POST", "/pools/p/backends", true],
      ["PATCH", `/pools/p/backends/${idPath(a)}`, true],
      ["DELETE", `/pools/p/backends/${missing}`, false],
      ["POST", `/pools/p/backends/${missing}/drain`, false],
      ["PUT", "/pools/nope/backends", true],
    ];
    for (const [method, path, readsBody] of routes) {
      for (const body of bodies) {
        const r = await request(`${base}${path}`, { method: method as "GET", headers: { ...AUTH, "content-type": "application/json" }, body });
        const text = await r.body.text();
        const what = `${method} ${path} with ${JSON.stringify(String(body).slice(0, 60))}: ${r.statusCode} ${text.slice(0, 200)}`;
        assert.ok(r.statusCode < 500, what);
        if (readsBody) assert.ok(r.statusCode >= 400, what);
      }
    }
    assert.is(({} as Record<string, unknown>).polluted, undefined);
    assert.equal((await getPool(base)).backends.map((x) => `${x.id}=${x.lifecycle}=${x.weight}`), [`${a.id}=active=1`]);
    assert.equal(await freshConnections(proxy.url), { a: EVERY_WORKER });
  });
});

// ---- refusing an insecure admin API ----------------------------------------------------------------

test("admin: refuses to start on a non-loopback address without a token", async () => {
  const a = await startBackend("a");
  try {
    let error: unknown = null;
    try {
      const balancer = await startBalancer({
        workers: 2,
        listeners: [{ name: "http", protocol: "http", address: "127.0.0.1", port: 0, pool: "p" }],
        pools: [{ name: "p", backends: [{ address: a.address, port: a.port }] }],
        admin: { address: "0.0.0.0", port: 0 },
      });
      await balancer.shutdown(1000);
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof Error, "startBalancer did not reject");
    const message = (error as Error).message;
    assert.match(message, /token/);
    assert.match(message, /non-loopback/);
    assert.match(message, /0\.0\.0\.0/);
    assert.is(a.received.length, 0);
  } finally {
    await a.close();
  }
});

test.run();
