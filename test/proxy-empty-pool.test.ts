// Holding requests while a pool has no routable backend (upstream.emptyPoolHold): what a group
// scaled to zero, or a pool whose only replica restarts, needs so that the first requests wait for the
// first backend instead of failing. Held requests are bounded in number and time, then answered 503
// with a reason; everything here goes through real sockets and worker threads.

import { test } from "uvu";
import * as assert from "uvu/assert";
import net from "node:net";
import { normalizeConfig } from "../native-free-core/index.ts";
import { startBackend } from "./helpers/backends.ts";
import { startProxy, waitFor } from "./helpers/proxy.ts";
import { parseResponses, rawRequest } from "./helpers/raw-client.ts";

const GET = "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
const ONE_WORKER = { workers: 1 };

function held(metrics: string): number {
  return Number(/farmhand_held_total\{[^}]*pool="p"[^}]*\} (\d+)/.exec(metrics)?.[1] ?? NaN);
}

test("a request held by an empty pool is served by the first backend that joins", async () => {
  const backend = await startBackend("first");
  const proxy = await startProxy([], { upstream: { emptyPoolHold: 8, emptyPoolHoldMs: 60_000 } }, ONE_WORKER);
  try {
    const pending = rawRequest(proxy.port, GET, { waitMs: 30_000, until: (t) => t.includes("\r\n\r\n") && t.includes("first") });
    // The request is in: the pool counts it as held before any backend exists.
    assert.ok(await waitFor(async () => held((await proxy.balancer.metrics()).body) === 1, 10_000), "the request was not held");
    proxy.balancer.replaceBackends("p", [{ address: backend.address, port: backend.port }]);
    const [answer] = parseResponses((await pending).text);
    assert.is(answer?.status, 200, (await pending).text);
    assert.match(answer.body, "first");
    assert.is(backend.received.length, 1);
  } finally {
    await proxy.stop();
    await backend.close();
  }
});

test("a held request that no backend comes for gets 503 no-backend-in-time with Retry-After", async () => {
  const proxy = await startProxy([], { upstream: { emptyPoolHold: 8, emptyPoolHoldMs: 300 } }, ONE_WORKER);
  try {
    const r = await rawRequest(proxy.port, GET, { waitMs: 10_000 });
    const [answer] = parseResponses(r.text);
    assert.is(answer?.status, 503, r.text);
    assert.is(answer.headers["x-farmhand-reason"], "no-backend-in-time");
    assert.is(answer.headers["retry-after"], "1");
    const metrics = (await proxy.balancer.metrics()).body;
    assert.is(held(metrics), 1);
    assert.match(metrics, /farmhand_no_backend_total\{[^}]*pool="p"[^}]*\} 1/);
  } finally {
    await proxy.stop();
  }
});

async function connect(port: number): Promise<net.Socket> {
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => {});
  await new Promise((resolve) => socket.once("connect", resolve));
  return socket;
}

test("past emptyPoolHold requests a worker holds, the next is answered 503 at once; a client that leaves frees its place", async () => {
  const proxy = await startProxy([], { upstream: { emptyPoolHold: 2, emptyPoolHoldMs: 60_000 } }, ONE_WORKER);
  const waiting = [await connect(proxy.port), await connect(proxy.port)];
  const heldNow = async () => held((await proxy.balancer.metrics()).body);
  try {
    for (const socket of waiting) socket.write(GET);
    assert.ok(await waitFor(async () => (await heldNow()) === 2, 10_000), "two requests were not held");
    const third = await rawRequest(proxy.port, GET, { waitMs: 10_000 });
    const [answer] = parseResponses(third.text);
    assert.is(answer?.status, 503, third.text);
    assert.is(answer.headers["x-farmhand-reason"], "no-routable-backend");
    // A reset, not a half-close: a client that half-closes may still read its answer, so it keeps its place.
    waiting[0].resetAndDestroy();
    // Until the reset is seen a new request may still be refused; once it is, one is held (no answer).
    const heldAgain = await waitFor(async () => (await rawRequest(proxy.port, GET, { waitMs: 500 })).text === "", 10_000);
    assert.ok(heldAgain, "the departed client's place was not freed");
    assert.is(await heldNow(), 3);
  } finally {
    for (const socket of waiting) socket.destroy();
    await proxy.stop();
  }
});

test("holding is off by default: an empty pool answers 503 no-routable-backend at once", async () => {
  const proxy = await startProxy([]);
  try {
    const r = await rawRequest(proxy.port, GET, { waitMs: 10_000 });
    assert.is(parseResponses(r.text)[0]?.headers["x-farmhand-reason"], "no-routable-backend");
    assert.is(held((await proxy.balancer.metrics()).body), 0);
  } finally {
    await proxy.stop();
  }
});

test("a reload that removes the pool answers the requests it held", async () => {
  const other = await startBackend("other");
  const listeners = [{ name: "http", protocol: "http", address: "127.0.0.1", port: 0, pool: "p" }];
  const proxy = await startProxy([], { upstream: { emptyPoolHold: 8, emptyPoolHoldMs: 60_000 } }, { workers: 1, listeners });
  try {
    const pending = rawRequest(proxy.port, GET, { waitMs: 30_000 });
    assert.ok(await waitFor(async () => held((await proxy.balancer.metrics()).body) === 1, 10_000), "the request was not held");
    await proxy.balancer.reload(normalizeConfig({
      workers: 1,
      listeners: [{ ...listeners[0], port: proxy.port, pool: "q" }],
      pools: [{ name: "q", backends: [`${other.address}:${other.port}`] }],
    }, "reload.json"));
    const [answer] = parseResponses((await pending).text);
    assert.is(answer?.status, 503, (await pending).text);
    assert.is(answer.headers["x-farmhand-reason"], "no-backend-in-time");
    assert.is(other.received.length, 0);
  } finally {
    await proxy.stop();
    await other.close();
  }
});

test("config: emptyPoolHold and emptyPoolHoldMs are validated with their path", () => {
  const base = { listeners: [{ name: "h", port: 0, pool: "p" }] };
  assert.throws(
    () => normalizeConfig({ ...base, pools: [{ name: "p", backends: [], upstream: { emptyPoolHold: -1 } }] }, "farm.json"),
    (e: Error) => /pools\[0\]\.upstream\.emptyPoolHold/.test(e.message),
  );
  assert.throws(
    () => normalizeConfig({ ...base, pools: [{ name: "p", backends: [], upstream: { emptyPoolHoldMs: 0 } }] }, "farm.json"),
    (e: Error) => /pools\[0\]\.upstream\.emptyPoolHoldMs/.test(e.message),
  );
});

test.run();
