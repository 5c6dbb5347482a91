// Forwarding loops: a backend that is the balancer's own listener (or a chain of balancers that
// leads back to one) must not bounce a request from hop to hop until descriptors run out. Each
// balancer marks the requests it forwards in Via and answers 508 to one that already carries its mark.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { startBalancer } from "../native-free-core/index.ts";
import { startBackend } from "./helpers/backends.ts";
import { parseResponses, rawRequest } from "./helpers/raw-client.ts";

function rejected(metrics: string, pool: string): number {
  const line = metrics.split("\n").find((l) => l.startsWith(`farmhand_rejected_requests_total{pool="${pool}"}`));
  return Number(line?.split(" ").at(-1) ?? NaN);
}

test("a pool whose backend is the balancer's own listener answers 508 after one hop", async () => {
  const balancer = await startBalancer({ workers: 2, listeners: [{ port: 0, pool: "p" }], pools: [{ name: "p", backends: [] }] });
  const port = balancer.listeners[0].port;
  try {
    balancer.addBackend("p", { address: "127.0.0.1", port });
    for (let i = 0; i < 5; i++) {
      const r = await rawRequest(port, `GET /loop-${i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, { waitMs: 5000 });
      assert.is(parseResponses(r.text)[0]?.status, 508, JSON.stringify(r.text.slice(0, 80)));
    }
    // One refusal per request: each went round exactly once.
    assert.is(rejected((await balancer.metrics()).body, "p"), 5);
  } finally {
    await balancer.shutdown(1000);
  }
});

test("a chain of two balancers is not a loop: both hops are named in Via, in order", async () => {
  const backend = await startBackend("b");
  const inner = await startBalancer({ workers: 1, listeners: [{ port: 0, pool: "p" }], pools: [{ name: "p", backends: [backend.id] }] });
  const outer = await startBalancer({
    workers: 1,
    listeners: [{ port: 0, pool: "p" }],
    pools: [{ name: "p", backends: [`127.0.0.1:${inner.listeners[0].port}`] }],
  });
  try {
    const r = await rawRequest(outer.listeners[0].port, "GET /chain HTTP/1.1\r\nHost: x\r\nVia: 1.1 client-proxy\r\nConnection: close\r\n\r\n", { waitMs: 5000 });
    assert.is(parseResponses(r.text)[0]?.status, 200, r.text);
    const via = backend.received[0].rawHeaders.filter((_, i, a) => i % 2 === 1 && a[i - 1].toLowerCase() === "via");
    assert.is(via.length, 3, JSON.stringify(via));
    assert.is(via[0], "1.1 client-proxy");
    assert.match(via[1], /^1\.1 farmhand-[0-9a-f]{12}$/);
    assert.match(via[2], /^1\.1 farmhand-[0-9a-f]{12}$/);
    assert.is.not(via[1], via[2], "each balancer has its own mark");
  } finally {
    await outer.shutdown(1000);
    await inner.shutdown(1000);
    await backend.close();
  }
});

test.run();
