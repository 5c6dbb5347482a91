import { test } from "uvu";
import * as assert from "uvu/assert";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { Client, request } from "undici";
import { startAdminServer, type AdminServer } from "../native-free-core/admin/server.ts";
import { isLoopback } from "../native-free-core/net/address.ts";
import type { BackendConfig } from "../native-free-core/config.ts";
import { InsecureAdminError, UnknownBackendError, UnknownPoolError } from "../native-free-core/errors.ts";
import { MetricsExporter } from "../native-free-core/stats/exporter.ts";
import { allocateSharedStats } from "../native-free-core/stats/layout.ts";
import { StatsReader } from "../native-free-core/stats/reader.ts";
import type { AdminControl, BackendLifecycle, BackendStatus, PoolStatus, TrafficCounts, ValidationCounts, WorkerStatus } from "../native-free-core/status.ts";

// --- an in-memory balancer, honest enough that changes show up in later reads -------------------

interface MemoryBackend {
  address: string;
  port: number;
  weight: number;
  lifecycle: BackendLifecycle;
  slot: number;
}

const idOf = (b: { address: string; port: number }) => (b.address.includes(":") ? `[${b.address}]` : b.address) + ":" + b.port;

class MemoryControl implements AdminControl {
  readonly #pools = new Map<string, { slot: number; backends: Map<string, MemoryBackend> }>();
  #nextBackendSlot = 0;
  readonly #exporter: MetricsExporter;

  constructor(pools: Record<string, BackendConfig[]>) {
    let slot = 0;
    for (const [name, backends] of Object.entries(pools)) {
      this.#pools.set(name, { slot: slot++, backends: new Map() });
      this.replaceBackends(name, backends);
    }
    const stats = allocateSharedStats({ workers: 1, pools: 4, backends: 64 });
    this.#exporter = new MetricsExporter(new StatsReader(stats), () => this.pools());
  }

  pools(): readonly PoolStatus[] {
    return [...this.#pools.keys()].map((name) => this.pool(name));
  }

  pool(name: string): PoolStatus {
    const pool = this.#get(name);
    const backends: BackendStatus[] = [...pool.backends.values()].map((b) => ({
      id: idOf(b),
      address: b.address,
      port: b.port,
      weight: b.weight,
      lifecycle: b.lifecycle,
      healthy: true,
      ejectedUntil: null,
      ejections: 0,
      warmUntil: null,
      routable: b.lifecycle === "active",
      backup: false,
      inFlight: 0,
      slot: b.slot,
    }));
    return { name, policy: "round-robin", backends, slot: pool.slot };
  }

  replaceBackends(name: string, backends: readonly BackendConfig[]): PoolStatus {
    const pool = this.#get(name);
    const keep = new Set(backends.map(idOf));
    for (const id of pool.backends.keys()) if (!keep.has(id)) pool.backends.delete(id);
    for (const b of backends) {
      const existing = pool.backends.get(idOf(b));
      if (existing) existing.weight = b.weight;
      else this.addBackend(name, b);
    }
    return this.pool(name);
  }

  addBackend(name: string, b: BackendConfig): PoolStatus {
    const pool = this.#get(name);
    pool.backends.set(idOf(b), { ...b, lifecycle: "active", slot: this.#nextBackendSlot++ });
    return this.pool(name);
  }

  removeBackend(name: string, id: string): PoolStatus {
    this.#backend(name, id);
    this.#get(name).backends.delete(id);
    return this.pool(name);
  }

  setWeight(name: string, id: string, weight: number): PoolStatus {
    this.#backend(name, id).weight = weight;
    return this.pool(name);
  }

  drainBackend(name: string, id: string): PoolStatus {
    // Nothing is ever in flight here, so draining finishes at once.
    this.#backend(name, id).lifecycle = "drained";
    return this.pool(name);
  }

  workers(): readonly WorkerStatus[] {
    return [
      { index: 0, threadId: 1, restarts: 0, serving: true },
      { index: 1, threadId: 2, restarts: 1, serving: true },
    ];
  }

  metrics() {
    return this.#exporter.text();
  }

  validationCounts(): readonly ValidationCounts[] {
    return [{
      listener: "front",
      operations: [
        { operation: "place", outcomes: { valid: 7, invalid: 2 }, offloaded: 1 },
        { operation: "(none)", outcomes: { valid: 0, invalid: 0 }, offloaded: 0 },
      ],
    }];
  }

  traffic(): TrafficCounts {
    return {
      pools: this.pools().map((p) => ({
        name: p.name,
        responses: [0, 12, 0, 3, 1],
        inFlight: 0,
        clientConnections: 2,
        rejected: 3,
        held: 0,
        noBackend: 1,
        backends: p.backends.map((b) => ({ id: b.id, responses: [0, 6, 0, 0, 0], connections: 1, errors: 0 })),
      })),
    };
  }

  #get(name: string) {
    const pool = this.#pools.get(name);
    if (!pool) throw new UnknownPoolError(name);
    return pool;
  }

  #backend(pool: string, id: string): MemoryBackend {
    const b = this.#get(pool).backends.get(id);
    if (!b) throw new UnknownBackendError(pool, id);
    return b;
  }
}

// --- helpers -----------------------------------------------------------------------------------

const TOKEN = "s3cret-token-with-some-length";
const AUTH = { authorization: `Bearer ${TOKEN}` };
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

const initialPools = (): Record<string, BackendConfig[]> => ({
  web: [
    { address: "127.0.0.1", port: 9001, weight: 1, backup: false },
    { address: "127.0.0.1", port: 9002, weight: 2, backup: false },
  ],
  api: [{ address: "127.0.0.1", port: 9101, weight: 1, backup: false }],
});

async function withServer(token: string | null, fn: (server: AdminServer, control: MemoryControl) => Promise<void>) {
  const control = new MemoryControl(initialPools());
  const server = await startAdminServer({ address: "127.0.0.1", port: 0, tokenSha256: token === null ? null : sha256(token) }, control);
  try {
    await fn(server, control);
  } finally {
    await server.close();
  }
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

async function call(
  server: AdminServer,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: unknown; raw?: string | Readable } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | Readable | undefined = options.raw;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["content-type"] = "application/json";
  }
  const res = await request(server.url + path, { method: method as "GET", headers, body });
  const text = await res.body.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, text, json };
}

function assertError(a: Answer, status: number, code: string) {
  assert.is(a.status, status, `status of ${a.text}`);
  assert.match(String(a.headers["content-type"]), /^application\/json/);
  assert.is(a.json.error.code, code);
  assert.type(a.json.error.message, "string");
}

// --- authentication and binding ----------------------------------------------------------------

test("token: missing and wrong tokens get the same 401, the right one gets in", async () => {
  await withServer(TOKEN, async (server) => {
    const missing = await call(server, "GET", "/pools");
    assertError(missing, 401, "FARMHAND_ADMIN_UNAUTHORIZED");
    assert.is(missing.headers["www-authenticate"], "Bearer");

    const wrong = await call(server, "GET", "/pools", { headers: { authorization: "Bearer nope" } });
    assert.is(wrong.status, 401);
    assert.is(wrong.headers["www-authenticate"], "Bearer");
    assert.is(wrong.text, missing.text, "no hint whether the token was missing or wrong");

    const sameLength = await call(server, "GET", "/pools", { headers: { authorization: `Bearer ${"x".repeat(TOKEN.length)}` } });
    assert.is(sameLength.status, 401);
    const otherScheme = await call(server, "GET", "/pools", { headers: { authorization: `Basic ${TOKEN}` } });
    assert.is(otherScheme.status, 401);
    const prefix = await call(server, "GET", "/pools", { headers: { authorization: `Bearer ${TOKEN}x` } });
    assert.is(prefix.status, 401);

    const ok = await call(server, "GET", "/pools", { headers: AUTH });
    assert.is(ok.status, 200);
    assert.equal(
      ok.json.pools.map((p: PoolStatus) => p.name),
      ["web", "api"],
    );
    // Routes are not revealed to callers without the token, and neither are mutations possible.
    assert.is((await call(server, "GET", "/no-such-route")).status, 401);
    assert.is((await call(server, "DELETE", "/pools/web/backends/127.0.0.1%3A9001")).status, 401);
    assert.is((await call(server, "GET", "/pools/web", { headers: AUTH })).json.backends.length, 2);
  });
});

test("/healthz needs no token", async () => {
  await withServer(TOKEN, async (server) => {
    const a = await call(server, "GET", "/healthz");
    assert.is(a.status, 200);
    assert.equal(a.json, { status: "ok" });
    assert.match(String(a.headers["content-type"]), /^application\/json/);
  });
});

test("refuses a non-loopback address without a token; loopback without one is fine", async () => {
  const control = new MemoryControl(initialPools());
  for (const address of ["0.0.0.0", "::", "192.0.2.1"]) {
    try {
      await startAdminServer({ address, port: 0, tokenSha256: null }, control);
      assert.unreachable(`started on ${address} without a token`);
    } catch (error) {
      assert.instance(error, InsecureAdminError);
      assert.is((error as InsecureAdminError).code, "FARMHAND_ADMIN_INSECURE");
    }
  }
  const server = await startAdminServer({ address: "127.0.0.1", port: 0, tokenSha256: null }, control);
  try {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(server.port > 0);
    const a = await call(server, "GET", "/pools/web");
    assert.is(a.status, 200);
    assert.is(a.json.name, "web");
    assert.is(a.json.slot, undefined, "internal slots stay internal");
    assert.is(a.json.backends[0].slot, undefined);
  } finally {
    await server.close();
  }
});

test("without a token, requests a browser could be tricked into sending are refused", async () => {
  await withServer(null, async (server) => {
    const csrf = await call(server, "POST", "/pools/web/backends/127.0.0.1%3A9001/drain", {
      headers: { origin: "https://evil.example" },
    });
    assertError(csrf, 403, "FARMHAND_ADMIN_FORBIDDEN");
    const rebound = await call(server, "GET", "/pools", { headers: { host: `evil.example:${server.port}` } });
    assertError(rebound, 403, "FARMHAND_ADMIN_FORBIDDEN");
    assert.is((await call(server, "GET", "/pools", { headers: { host: `localhost:${server.port}` } })).status, 200);
  });
});

test("isLoopback", () => {
  for (const a of ["127.0.0.1", "127.1.2.3", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "localhost", "LOCALHOST"]) {
    assert.ok(isLoopback(a), a);
  }
  for (const a of ["0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "::2", "::ffff:10.0.0.1", "localhost.example", ""]) {
    assert.not.ok(isLoopback(a), a);
  }
});

// --- routes ------------------------------------------------------------------------------------

test("PUT backends: replaces the list; a bad port is a 400 naming the field and the value", async () => {
  await withServer(TOKEN, async (server) => {
    const bad = await call(server, "PUT", "/pools/web/backends", {
      headers: AUTH,
      body: [{ address: "127.0.0.1", port: 9001 }, { address: "127.0.0.1", port: 70000 }],
    });
    assertError(bad, 400, "FARMHAND_CONFIG_INVALID");
    assert.match(bad.json.error.message, "body[1].port");
    assert.match(bad.json.error.message, "70000");
    assert.is(bad.json.error.field, "body[1].port");
    // Nothing changed.
    assert.is((await call(server, "GET", "/pools/web", { headers: AUTH })).json.backends.length, 2);

    const notAList = await call(server, "PUT", "/pools/web/backends", { headers: AUTH, body: { address: "127.0.0.1" } });
    assertError(notAList, 400, "FARMHAND_CONFIG_INVALID");

    const ok = await call(server, "PUT", "/pools/web/backends", {
      headers: AUTH,
      body: ["127.0.0.1:9002", { address: "127.0.0.1", port: 9003, weight: 5 }],
    });
    assert.is(ok.status, 200);
    assert.equal(
      ok.json.backends.map((b: BackendStatus) => [b.id, b.weight]),
      [
        ["127.0.0.1:9002", 1],
        ["127.0.0.1:9003", 5],
      ],
    );
    const after = await call(server, "GET", "/pools/web", { headers: AUTH });
    assert.equal(after.json, ok.json);
  });
});

test("unknown pool and unknown backend are 404s with their codes", async () => {
  await withServer(TOKEN, async (server) => {
    assertError(await call(server, "GET", "/pools/nope", { headers: AUTH }), 404, "FARMHAND_UNKNOWN_POOL");
    assertError(
      await call(server, "PUT", "/pools/nope/backends", { headers: AUTH, body: ["127.0.0.1:9001"] }),
      404,
      "FARMHAND_UNKNOWN_POOL",
    );
    assertError(
      await call(server, "DELETE", "/pools/web/backends/127.0.0.1%3A9999", { headers: AUTH }),
      404,
      "FARMHAND_UNKNOWN_BACKEND",
    );
    assertError(
      await call(server, "PATCH", "/pools/web/backends/127.0.0.1%3A9999", { headers: AUTH, body: { weight: 3 } }),
      404,
      "FARMHAND_UNKNOWN_BACKEND",
    );
  });
});

test("PATCH weight: integers 1..1000 only, errors name body.weight and the value", async () => {
  await withServer(TOKEN, async (server) => {
    const path = "/pools/web/backends/127.0.0.1%3A9001";
    for (const weight of [0, 1001, 2.5, "5", null, -1]) {
      const a = await call(server, "PATCH", path, { headers: AUTH, body: { weight } });
      assertError(a, 400, "FARMHAND_CONFIG_INVALID");
      assert.match(a.json.error.message, "body.weight");
      assert.match(a.json.error.message, JSON.stringify(weight));
      assert.is(a.json.error.field, "body.weight");
    }
    assertError(await call(server, "PATCH", path, { headers: AUTH, body: {} }), 400, "FARMHAND_CONFIG_INVALID");
    assertError(await call(server, "PATCH", path, { headers: AUTH, body: [5] }), 400, "FARMHAND_CONFIG_INVALID");
    const extra = await call(server, "PATCH", path, { headers: AUTH, body: { weight: 5, port: 1 } });
    assertError(extra, 400, "FARMHAND_CONFIG_INVALID");
    assert.is(extra.json.error.field, "body.port");

    for (const weight of [1, 1000, 7]) {
      const ok = await call(server, "PATCH", path, { headers: AUTH, body: { weight } });
      assert.is(ok.status, 200);
      assert.is(ok.json.backends.find((b: BackendStatus) => b.id === "127.0.0.1:9001").weight, weight);
    }
    // The literal (unencoded) id works too.
    assert.is((await call(server, "PATCH", "/pools/web/backends/127.0.0.1:9002", { headers: AUTH, body: { weight: 9 } })).status, 200);
    const web = (await call(server, "GET", "/pools/web", { headers: AUTH })).json;
    assert.equal(
      web.backends.map((b: BackendStatus) => b.weight),
      [7, 9],
    );
  });
});

test("POST adds (201), DELETE removes (202), drain drains (202)", async () => {
  await withServer(TOKEN, async (server) => {
    const added = await call(server, "POST", "/pools/api/backends", { headers: AUTH, body: "127.0.0.1:9102" });
    assert.is(added.status, 201);
    assert.is(added.headers.location, "/pools/api/backends/127.0.0.1%3A9102");
    assert.ok(added.json.backends.some((b: BackendStatus) => b.id === "127.0.0.1:9102"));

    const asObject = await call(server, "POST", "/pools/api/backends", { headers: AUTH, body: { address: "::1", port: 9103, weight: 3 } });
    assert.is(asObject.status, 201);
    assert.is(asObject.headers.location, "/pools/api/backends/%5B%3A%3A1%5D%3A9103");
    const badOne = await call(server, "POST", "/pools/api/backends", { headers: AUTH, body: { address: "127.0.0.1" } });
    assertError(badOne, 400, "FARMHAND_CONFIG_INVALID");

    const removed = await call(server, "DELETE", "/pools/api/backends/" + encodeURIComponent("[::1]:9103"), { headers: AUTH });
    assert.is(removed.status, 202);
    assert.not.ok(removed.json.backends.some((b: BackendStatus) => b.port === 9103));

    const drained = await call(server, "POST", "/pools/api/backends/127.0.0.1%3A9101/drain", { headers: AUTH });
    assert.is(drained.status, 202);
    const b = drained.json.backends.find((x: BackendStatus) => x.id === "127.0.0.1:9101");
    assert.is(b.lifecycle, "drained");
    assert.is(b.routable, false);

    const api = (await call(server, "GET", "/pools/api", { headers: AUTH })).json;
    assert.equal(
      api.backends.map((x: BackendStatus) => x.id),
      ["127.0.0.1:9101", "127.0.0.1:9102"],
    );
  });
});

test("GET /workers and GET /metrics", async () => {
  await withServer(TOKEN, async (server) => {
    const w = await call(server, "GET", "/workers", { headers: AUTH });
    assert.is(w.status, 200);
    assert.is(w.json.workers.length, 2);
    assert.is(w.json.workers[1].restarts, 1);

    assert.is((await call(server, "GET", "/metrics")).status, 401);
    const m = await call(server, "GET", "/metrics", { headers: AUTH });
    assert.is(m.status, 200);
    assert.match(String(m.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
    assert.match(m.text, '# TYPE farmhand_responses_total counter');
    assert.match(m.text, 'farmhand_backend_up{pool="web",backend="127.0.0.1:9001"} 1');
  });
});

test("GET /stats: an HTML page of pools, backends and contract checks, behind the same token as /metrics", async () => {
  await withServer(TOKEN, async (server, control) => {
    assert.is((await call(server, "GET", "/stats")).status, 401);
    control.addBackend("web", { address: "127.0.0.1", port: 9003, weight: 1, backup: false });
    const page = await call(server, "GET", "/stats", { headers: AUTH });
    assert.is(page.status, 200);
    assert.match(String(page.headers["content-type"]), /^text\/html; charset=utf-8/);
    assert.match(String(page.headers["content-security-policy"]), "default-src 'none'");
    assert.match(page.text, /^<!doctype html>/);
    assert.match(page.text, "<h2>pool web</h2>");
    assert.match(page.text, "<td>127.0.0.1:9003</td>");
    assert.match(page.text, "contract checks on listener front");
    assert.match(page.text, "<td>place</td><td>7</td><td>2</td><td>1</td>");
  });
  // Without a token, as /metrics: loopback only, no request a web page could send.
  await withServer(null, async (server) => {
    assert.is((await call(server, "GET", "/stats")).status, 200);
    assert.is((await call(server, "GET", "/stats", { headers: { origin: "http://evil.example" } })).status, 403);
  });
});

test("JSON nested deeper than 64 levels is a 400 naming the limit, whatever route reads it", async () => {
  await withServer(TOKEN, async (server) => {
    const deep = "[".repeat(100_000) + "]".repeat(100_000);
    for (const [method, path] of [["PUT", "/pools/web/backends"], ["POST", "/pools/web/backends"], ["PATCH", "/pools/web/backends/127.0.0.1%3A9001"]]) {
      const a = await call(server, method, path, { headers: AUTH, raw: deep });
      assertError(a, 400, "FARMHAND_ADMIN_BAD_JSON");
      assert.match(a.json.error.message, /deeper than 64 levels/);
    }
    const objects = '{"a":'.repeat(65) + "1" + "}".repeat(65);
    assertError(await call(server, "PATCH", "/pools/web/backends/127.0.0.1%3A9001", { headers: AUTH, raw: objects }), 400, "FARMHAND_ADMIN_BAD_JSON");
    // Brackets inside strings do not count, after an escaped quote included: the value gets as far as validation.
    const inString = `[${JSON.stringify('"' + "[".repeat(100))}]`;
    assertError(await call(server, "PUT", "/pools/web/backends", { headers: AUTH, raw: inString }), 400, "FARMHAND_CONFIG_INVALID");
    // 64 levels are fine as far as nesting goes (the value is then refused for what it is).
    const at64 = "[".repeat(64) + "]".repeat(64);
    assertError(await call(server, "PUT", "/pools/web/backends", { headers: AUTH, raw: at64 }), 400, "FARMHAND_CONFIG_INVALID");
  });
});

test("malformed JSON is a 400 FARMHAND_ADMIN_BAD_JSON", async () => {
  await withServer(TOKEN, async (server) => {
    const a = await call(server, "PUT", "/pools/web/backends", {
      headers: { ...AUTH, "content-type": "application/json" },
      raw: '[{"address": "127.0.0.1", ',
    });
    assertError(a, 400, "FARMHAND_ADMIN_BAD_JSON");
    assertError(await call(server, "PATCH", "/pools/web/backends/127.0.0.1%3A9001", { headers: AUTH }), 400, "FARMHAND_ADMIN_BAD_JSON");
  });
});

test("a body over 1 MiB is a 413, with or without Content-Length, and the server carries on", async () => {
  await withServer(TOKEN, async (server) => {
    const big = "[" + " ".repeat(1024 * 1024) + "]";
    assertError(await call(server, "PUT", "/pools/web/backends", { headers: AUTH, raw: big }), 413, "FARMHAND_ADMIN_BODY_TOO_LARGE");

    async function* chunked() {
      for (let i = 0; i < 20; i++) yield Buffer.alloc(64 * 1024, 0x20);
    }
    assertError(await call(server, "PUT", "/pools/web/backends", { headers: AUTH, raw: Readable.from(chunked()) }), 413, "FARMHAND_ADMIN_BODY_TOO_LARGE");

    // Exactly at the limit is fine (a valid list padded with spaces).
    const atLimit = '["127.0.0.1:9001"' + " ".repeat(1024 * 1024 - 18) + "]";
    assert.is(Buffer.byteLength(atLimit), 1024 * 1024);
    assert.is((await call(server, "PUT", "/pools/web/backends", { headers: AUTH, raw: atLimit })).status, 200);
    assert.is((await call(server, "GET", "/pools/web", { headers: AUTH })).json.backends.length, 1);
  });
});

test("unknown route is a 404; a known path with the wrong method is a 405 with Allow", async () => {
  await withServer(TOKEN, async (server) => {
    assertError(await call(server, "GET", "/nope", { headers: AUTH }), 404, "FARMHAND_ADMIN_NOT_FOUND");
    assertError(await call(server, "GET", "/pools/web/backends/x/y/z", { headers: AUTH }), 404, "FARMHAND_ADMIN_NOT_FOUND");
    assertError(await call(server, "GET", "/pools/", { headers: AUTH }), 404, "FARMHAND_ADMIN_NOT_FOUND");

    const a = await call(server, "DELETE", "/pools/web", { headers: AUTH });
    assertError(a, 405, "FARMHAND_ADMIN_METHOD_NOT_ALLOWED");
    assert.is(a.headers.allow, "GET");
    const b = await call(server, "GET", "/pools/web/backends", { headers: AUTH });
    assert.is(b.status, 405);
    assert.is(b.headers.allow, "PUT, POST");
    const c = await call(server, "PUT", "/pools/web/backends/127.0.0.1%3A9001", { headers: AUTH, body: {} });
    assert.is(c.status, 405);
    assert.is(c.headers.allow, "DELETE, PATCH");
  });
});

test("close() stops listening, and closing again is harmless", async () => {
  const server = await startAdminServer({ address: "127.0.0.1", port: 0, tokenSha256: null }, new MemoryControl(initialPools()));
  assert.is((await call(server, "GET", "/healthz")).status, 200);
  await server.close();
  try {
    await call(server, "GET", "/healthz");
    assert.unreachable("still answering after close()");
  } catch (error) {
    assert.is((error as NodeJS.ErrnoException).code, "ECONNREFUSED");
  }
  await server.close();
});

test("a server that could not bind leaves the port to its holder, and the old one serves on", async () => {
  const first = await startAdminServer({ address: "127.0.0.1", port: 0, tokenSha256: null }, new MemoryControl(initialPools()));
  try {
    await startAdminServer({ address: "127.0.0.1", port: first.port, tokenSha256: null }, new MemoryControl(initialPools()));
    assert.unreachable("bound a port already in use");
  } catch (error) {
    assert.is((error as { code?: string }).code, "FARMHAND_LISTEN_FAILED");
    assert.match((error as Error).message, /EADDRINUSE/);
  }
  assert.is((await call(first, "GET", "/healthz")).status, 200);
  await first.close();
});

test("the token is kept as its SHA-256 digest and can change without a rebind", async () => {
  await withServer(TOKEN, async (server) => {
    // One keep-alive connection throughout: a rebind would have closed it.
    const client = new Client(server.url, { keepAliveTimeout: 60_000 });
    let connects = 0;
    client.on("connect", () => connects++);
    const get = async (token: string) => {
      const r = await client.request({ path: "/pools", method: "GET", headers: { authorization: `Bearer ${token}` } });
      await r.body.text();
      return r.statusCode;
    };
    try {
      assert.is(await get(TOKEN), 200);
      const next = "the-next-token-0123456789";
      assert.throws(() => server.setTokenSha256("not-a-digest"), /64 lowercase hexadecimal digits/);
      assert.is(await get(TOKEN), 200, "a refused token change changed the token");
      server.setTokenSha256(sha256(next));
      assert.is(await get(next), 200);
      assert.is(connects, 1);
      assert.is(await get(TOKEN), 401);
    } finally {
      await client.close();
    }
  });
  // Off loopback, dropping the token is refused and the old one stays.
  const control = new MemoryControl(initialPools());
  const server = await startAdminServer({ address: "127.0.0.1", port: 0, tokenSha256: sha256(TOKEN) }, control);
  try {
    assert.throws(() => server.setTokenSha256("A".repeat(64)), /lowercase/);
    assert.is((await call(server, "GET", "/pools", { headers: AUTH })).status, 200);
  } finally {
    await server.close();
  }
});

test.run();
