// Listener features the farm builds on: path-prefix routes, backup backends (failover), and a
// listener that announces its contract at /.well-known/farmhand.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { request } from "undici";
import { startBalancer } from "../native-free-core/index.ts";
import { startBackend } from "./helpers/backends.ts";
import { waitFor } from "./helpers/proxy.ts";
import { parseResponses, rawRequest } from "./helpers/raw-client.ts";

async function get(url: string): Promise<{ status: number; body: string; backend: string }> {
  const r = await request(url, { reset: true });
  return { status: r.statusCode, body: await r.body.text(), backend: String(r.headers["x-backend"] ?? "") };
}

test("routes send each path prefix to its pool, the longest prefix first, the rest to the listener's pool", async () => {
  const [orders, special, payments, rest] = await Promise.all(["orders", "special", "payments", "rest"].map((n) => startBackend(n)));
  const balancer = await startBalancer({
    workers: 1,
    listeners: [{
      port: 0,
      pool: "rest",
      routes: [
        { prefix: "/orders", pool: "orders" },
        { prefix: "/orders/special", pool: "special" },
        { prefix: "/payments/", pool: "payments" },
      ],
    }],
    pools: [
      { name: "orders", backends: [`127.0.0.1:${orders.port}`] },
      { name: "special", backends: [`127.0.0.1:${special.port}`] },
      { name: "payments", backends: [`127.0.0.1:${payments.port}`] },
      { name: "rest", backends: [`127.0.0.1:${rest.port}`] },
    ],
  });
  const url = `http://127.0.0.1:${balancer.listeners[0].port}`;
  try {
    assert.is((await get(`${url}/orders/17`)).backend, "orders");
    assert.is((await get(`${url}/orders/special/1`)).backend, "special");
    assert.is((await get(`${url}/payments/charge`)).backend, "payments");
    assert.is((await get(`${url}/payments`)).backend, "rest", "the prefix is matched as written");
    assert.is((await get(`${url}/`)).backend, "rest");
  } finally {
    await balancer.shutdown(1000);
    await Promise.all([orders, special, payments, rest].map((b) => b.close()));
  }
});

test("a routed pool that hashes on a header hashes on its own header, not the listener pool's", async () => {
  const [s1, s2, s3, rest] = await Promise.all(["s1", "s2", "s3", "rest"].map((n) => startBackend(n)));
  const balancer = await startBalancer({
    workers: 1,
    listeners: [{ port: 0, pool: "rest", routes: [{ prefix: "/sticky/", pool: "sticky" }] }],
    pools: [
      { name: "sticky", policy: "consistent-hash", hashKey: { header: "X-User" }, backends: [s1, s2, s3].map((b) => `127.0.0.1:${b.port}`) },
      { name: "rest", backends: [`127.0.0.1:${rest.port}`] },
    ],
  });
  const url = `http://127.0.0.1:${balancer.listeners[0].port}`;
  const backendFor = async (user: string) => {
    const r = await request(`${url}/sticky/cart`, { headers: { "x-user": user }, reset: true });
    await r.body.text();
    return String(r.headers["x-backend"]);
  };
  try {
    const first = new Map<string, string>();
    for (let i = 0; i < 30; i++) first.set(`user-${i}`, await backendFor(`user-${i}`));
    for (const [user, backend] of first) assert.is(await backendFor(user), backend, `${user} sticks to one backend`);
    // Hashed on the client address instead, every request from 127.0.0.1 would land on one backend.
    assert.ok(new Set(first.values()).size >= 2, `users spread over ${[...new Set(first.values())].join(", ")}`);
  } finally {
    await balancer.shutdown(1000);
    await Promise.all([s1, s2, s3, rest].map((b) => b.close()));
  }
});

test("a backup takes traffic only while no primary is routable", async () => {
  const primary = await startBackend("primary");
  const backup = await startBackend("backup");
  const balancer = await startBalancer({
    workers: 1,
    listeners: [{ port: 0, pool: "p" }],
    pools: [{
      name: "p",
      backends: [`127.0.0.1:${primary.port}`, { address: "127.0.0.1", port: backup.port, backup: true }],
      outlierDetection: { consecutiveConnectFailures: 1, baseEjectionMs: 300 },
    }],
  });
  const url = `http://127.0.0.1:${balancer.listeners[0].port}`;
  try {
    for (let i = 0; i < 5; i++) assert.is((await get(`${url}/a`)).backend, "primary");
    assert.is(backup.received.length, 0);
    const primaryPort = primary.port;
    await primary.close();
    // The connect failure is retried on the backup; the primary is ejected and the backup serves.
    for (let i = 0; i < 5; i++) {
      const r = await get(`${url}/b`);
      assert.is(r.status, 200);
      assert.is(r.backend, "backup");
    }
    const status = balancer.pool("p").backends;
    assert.is(status.find((b) => b.port === primaryPort)!.routable, false);
    assert.is(status.find((b) => b.port === backup.port)!.routable, true);
  } finally {
    await balancer.shutdown(1000);
    await backup.close();
  }
});

test("a listener that serves a contract answers /.well-known/farmhand itself", async () => {
  const a = await startBackend("a");
  const balancer = await startBalancer({
    workers: 1,
    listeners: [{ port: 0, pool: "p", contract: "orders@1" }],
    pools: [{ name: "p", backends: [`127.0.0.1:${a.port}`] }],
  });
  const url = `http://127.0.0.1:${balancer.listeners[0].port}`;
  try {
    const r = await get(`${url}/.well-known/farmhand`);
    assert.is(r.status, 200);
    assert.equal(JSON.parse(r.body).provides, { api: "orders@1" });
    assert.is(a.received.length, 0, "the backend was not asked");
    assert.is((await get(`${url}/.well-known/farmhand?x`)).backend, "a", "only the exact path is answered locally");
    assert.ok(await waitFor(() => a.received.length === 1));
  } finally {
    await balancer.shutdown(1000);
    await a.close();
  }
});

test("absolute-form targets: routed by their path, sent upstream in origin form with Host set to their authority; malformed ones refused, no worker dies", async () => {
  const [api, rest] = await Promise.all(["api", "rest"].map((n) => startBackend(n)));
  const events: string[] = [];
  const balancer = await startBalancer({
    workers: 2,
    listeners: [{ port: 0, pool: "rest", routes: [{ prefix: "/api/", pool: "api" }] }],
    pools: [
      { name: "api", backends: [`127.0.0.1:${api.port}`] },
      { name: "rest", backends: [`127.0.0.1:${rest.port}`] },
    ],
  }, { onEvent: (e) => events.push(e.type) });
  const port = balancer.listeners[0].port;
  try {
    const routed = await rawRequest(port, "GET http://Example.TEST:8080/api/x?q=1 HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n", { waitMs: 5000 });
    assert.is(parseResponses(routed.text)[0]?.status, 200, routed.text);
    assert.is(api.received.at(-1)?.url, "/api/x?q=1", "origin form upstream");
    assert.is(api.received.at(-1)?.headers.host, "Example.TEST:8080", "Host is the target's authority");
    const bare = await rawRequest(port, "GET http://example.test HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n", { waitMs: 5000 });
    assert.is(parseResponses(bare.text)[0]?.status, 200);
    assert.is(rest.received.at(-1)?.url, "/");

    // Each of these once killed the worker that read it (the routing step threw on them).
    const refused = [
      "GET http:// HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET http:///api/x HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET http://@/api/x HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET http://user:pw@example.test/api/x HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET http://exa mple/ HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET https://[::1/api HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET http://example.test/api/x#frag HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /api/../admin HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /api/%2e%2e/admin HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /api/x%2Fy HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /api/.. HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /api\\..\\admin HTTP/1.1\r\nHost: x\r\n\r\n",
    ];
    const apiBefore = api.received.length;
    const restBefore = rest.received.length;
    for (let round = 0; round < 3; round++) {
      for (const data of refused) {
        const r = await rawRequest(port, data, { waitMs: 5000 });
        assert.is(parseResponses(r.text)[0]?.status, 400, `${JSON.stringify(data)}: ${JSON.stringify(r.text.slice(0, 60))}`);
        assert.ok(r.closed);
      }
    }
    assert.is(api.received.length, apiBefore);
    assert.is(rest.received.length, restBefore);
    assert.not.ok(events.includes("worker-exit"), `no worker died: ${events.join(", ")}`);
    assert.equal(balancer.workers().map((w) => w.restarts), [0, 0]);
    assert.is((await get(`http://127.0.0.1:${port}/api/after`)).backend, "api");
  } finally {
    await balancer.shutdown(1000);
    await Promise.all([api, rest].map((b) => b.close()));
  }
});

test.run();
