// The proxy under trouble, end to end over real sockets: backends dying, draining, failing health
// checks or answering 5xx; a worker thread killed; the pool changed while traffic flows; TCP half-close.

import net from "node:net";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Pool, request } from "undici";
import { startBalancer, type BalancerEvent } from "../native-free-core/index.ts";
import { startBackend, startRawServer, type TestBackend } from "./helpers/backends.ts";
import { sleep, startProxy, waitFor } from "./helpers/proxy.ts";

/** Runs `workers` loops of requests over a keep-alive pool until `stop()`; counts outcomes. */
function load(url: string, workers: number) {
  const pool = new Pool(url, { connections: workers, pipelining: 1 });
  const outcomes = { ok: 0, failed: 0, statuses: new Map<number, number>(), errors: [] as string[], byBackend: new Map<string, number>() };
  let running = true;
  let stopped: Promise<void> | null = null;
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      try {
        const r = await pool.request({ path: "/load", method: "GET" });
        await r.body.text();
        outcomes.statuses.set(r.statusCode, (outcomes.statuses.get(r.statusCode) ?? 0) + 1);
        const backend = String(r.headers["x-backend"] ?? "proxy");
        outcomes.byBackend.set(backend, (outcomes.byBackend.get(backend) ?? 0) + 1);
        if (r.statusCode === 200) outcomes.ok++;
        else outcomes.failed++;
      } catch (error) {
        outcomes.failed++;
        outcomes.errors.push((error as Error).message);
      }
    }
  });
  return {
    outcomes,
    stop: () => {
      running = false;
      stopped ??= Promise.all(loops).then(() => pool.close());
      return stopped;
    },
  };
}

async function closeAll(backends: TestBackend[]): Promise<void> {
  await Promise.all(backends.map((b) => b.close().catch(() => {})));
}

test("a backend killed under load is ejected and traffic continues on the others", async () => {
  const backends = [await startBackend("a"), await startBackend("b"), await startBackend("c")];
  const proxy = await startProxy(backends, {
    outlierDetection: { consecutiveConnectFailures: 2, baseEjectionMs: 60_000 },
  });
  const traffic = load(proxy.url, 8);
  try {
    await waitFor(() => traffic.outcomes.ok > 300);
    await backends[1].close();
    const ejected = await waitFor(() => {
      const b = proxy.balancer.pool("p").backends.find((x) => x.id === backends[1].id)!;
      return b.ejectedUntil !== null && !b.routable;
    });
    assert.ok(ejected, "the dead backend is ejected");
    const before = { ...traffic.outcomes, byBackend: new Map(traffic.outcomes.byBackend) };
    await waitFor(() => traffic.outcomes.ok > before.ok + 300);
    await traffic.stop();
    // After the ejection, every request succeeded on the survivors.
    assert.is(traffic.outcomes.failed, before.failed, `no failure after ejection: ${traffic.outcomes.errors.join("; ")}`);
    assert.is(traffic.outcomes.byBackend.get("b"), before.byBackend.get("b"), "nothing more reached the dead backend");
    assert.ok((traffic.outcomes.byBackend.get("a") ?? 0) > (before.byBackend.get("a") ?? 0));
    assert.ok((traffic.outcomes.byBackend.get("c") ?? 0) > (before.byBackend.get("c") ?? 0));
    // Requests caught mid-flight were retried or redispatched: at most a handful could fail.
    assert.ok(traffic.outcomes.failed <= 8, `failures during the kill: ${traffic.outcomes.failed}`);
    const metrics = (await proxy.balancer.metrics()).body;
    assert.match(metrics, new RegExp(`farmhand_backend_ejections_total\\{pool="p",backend="${backends[1].id}"\\} 1`));
  } finally {
    await traffic.stop();
    await proxy.stop();
    await closeAll(backends);
  }
});

test("a backend answering 5xx is ejected after consecutive failures, and returns after the ejection", async () => {
  const good = await startBackend("good");
  const bad = await startBackend("bad");
  bad.handle = (_req, res) => {
    res.writeHead(500, { "x-backend": "bad", "content-length": 0 });
    res.end();
  };
  const proxy = await startProxy([good, bad], { outlierDetection: { consecutive5xx: 3, baseEjectionMs: 400 } });
  try {
    let fives = 0;
    for (let i = 0; i < 20; i++) {
      const r = await request(`${proxy.url}/x`);
      await r.body.text();
      if (r.statusCode === 500) fives++;
    }
    const status = proxy.balancer.pool("p").backends.find((b) => b.id === bad.id)!;
    assert.is(status.ejections, 1);
    assert.ok(fives >= 3 && fives <= 4, `5xx seen before ejection: ${fives}`);
    // The ejection ends by itself.
    assert.ok(await waitFor(() => proxy.balancer.pool("p").backends.find((b) => b.id === bad.id)!.routable, 5000));
  } finally {
    await proxy.stop();
    await closeAll([good, bad]);
  }
});

test("a drained backend finishes its in-flight requests, takes no new ones, and reports drained", async () => {
  const slow = await startBackend("slow");
  const other = await startBackend("other");
  slow.handle = (_req, res) => {
    setTimeout(() => {
      res.writeHead(200, { "x-backend": "slow", "content-length": 4 });
      res.end("done");
    }, 400);
  };
  const proxy = await startProxy([slow, other], { policy: "round-robin" });
  try {
    const inFlight = Array.from({ length: 6 }, () =>
      request(`${proxy.url}/slow`).then(async (r) => ({ status: r.statusCode, backend: r.headers["x-backend"], body: await r.body.text() })));
    assert.ok(await waitFor(() => proxy.balancer.pool("p").backends[0].inFlight > 0, 3000));
    const during = proxy.balancer.drainBackend("p", slow.id);
    assert.is(during.backends.find((b) => b.id === slow.id)!.lifecycle, "draining");
    const results = await Promise.all(inFlight);
    for (const r of results) assert.is(r.status, 200);
    const onSlow = results.filter((r) => r.backend === "slow");
    assert.ok(onSlow.length > 0, "some requests were in flight on the drained backend");
    for (const r of onSlow) assert.is(r.body, "done");
    assert.ok(await waitFor(() => proxy.balancer.pool("p").backends.find((b) => b.id === slow.id)!.lifecycle === "drained"));
    const before = slow.received.length;
    for (let i = 0; i < 10; i++) {
      const r = await request(`${proxy.url}/after`);
      assert.is(r.headers["x-backend"], "other");
      await r.body.text();
    }
    assert.is(slow.received.length, before);
  } finally {
    await proxy.stop();
    await closeAll([slow, other]);
  }
});

test("a killed worker thread is replaced while the proxy keeps answering", async () => {
  const a = await startBackend("a");
  const proxy = await startProxy([a]);
  try {
    await proxy.balancer.killWorker(0);
    // New connections keep being answered while the worker is replaced.
    for (let i = 0; i < 50; i++) {
      const r = await request(`${proxy.url}/after-kill/${i}`, { reset: true });
      assert.is(r.statusCode, 200);
      await r.body.text();
    }
    assert.ok(await waitFor(() => proxy.balancer.workers()[0].restarts === 1));
    // The replacement listens on the shared port, once it says so: kill the other one and the proxy
    // still answers.
    assert.ok(await waitFor(() => proxy.balancer.workers()[0].serving, 20_000));
    await proxy.balancer.killWorker(1);
    for (let i = 0; i < 20; i++) {
      const r = await request(`${proxy.url}/after-second-kill/${i}`, { reset: true });
      assert.is(r.statusCode, 200);
      await r.body.text();
    }
    assert.ok(await waitFor(() => proxy.balancer.workers()[1].restarts === 1));
  } finally {
    await proxy.stop();
    await a.close();
  }
});

/**
 * Kills worker 0 `times` times, each time once its replacement is up and answering, and returns the
 * restart delays the balancer announced.
 */
async function restartDelays(a: TestBackend, restartBackoffResetMs: number, times: number): Promise<number[]> {
  const delays: number[] = [];
  const balancer = await startBalancer(
    { workers: 2, listeners: [{ name: "http", port: 0, pool: "p" }], pools: [{ name: "p", backends: [a.id] }] },
    { restartBackoffResetMs, onEvent: (e: BalancerEvent) => e.type === "worker-exit" && delays.push(e.restartInMs) },
  );
  try {
    const url = `http://127.0.0.1:${balancer.listeners[0].port}`;
    for (let i = 1; i <= times; i++) {
      await balancer.killWorker(0);
      assert.ok(await waitFor(() => balancer.workers()[0].restarts === i, 10_000), `worker 0 was not replaced (${i})`);
      for (let j = 0; j < 10; j++) {
        const r = await request(`${url}/after-kill/${i}/${j}`, { reset: true });
        assert.is(r.statusCode, 200);
        await r.body.text();
      }
    }
  } finally {
    await balancer.shutdown(2000);
  }
  return delays;
}

test("worker restarts back off while workers die in quick succession, and not once a worker has served a while", async () => {
  const a = await startBackend("a");
  try {
    // Each replacement lives far less than a minute: deaths in quick succession.
    assert.equal(await restartDelays(a, 60_000, 4), [0, 200, 400, 800]);
    // Each replacement lives longer than 1 ms: every death comes after a while of service, so none waits.
    assert.equal(await restartDelays(a, 1, 4), [0, 0, 0, 0]);
  } finally {
    await a.close();
  }
});

test("replacing the pool's backends under load drops no request and no connection", async () => {
  const old = [await startBackend("old1"), await startBackend("old2")];
  const fresh = [await startBackend("new1"), await startBackend("new2")];
  const proxy = await startProxy(old);
  // Raw keep-alive clients: each must stay on its one connection through the change.
  const sockets: net.Socket[] = [];
  try {
    const traffic = load(proxy.url, 6);
    await waitFor(() => traffic.outcomes.ok > 200);
    proxy.balancer.replaceBackends("p", fresh.map((b) => ({ address: b.address, port: b.port, weight: 1 })));
    await waitFor(() => (traffic.outcomes.byBackend.get("new1") ?? 0) > 100 && (traffic.outcomes.byBackend.get("new2") ?? 0) > 100);
    await traffic.stop();
    assert.is(traffic.outcomes.failed, 0, traffic.outcomes.errors.join("; "));
    assert.ok(await waitFor(() => proxy.balancer.pool("p").backends.every((b) => fresh.some((f) => f.id === b.id))));
    const stale = old[0].received.length + old[1].received.length;
    for (let i = 0; i < 20; i++) {
      const r = await request(`${proxy.url}/later`);
      await r.body.text();
    }
    assert.is(old[0].received.length + old[1].received.length, stale);
  } finally {
    for (const s of sockets) s.destroy();
    await proxy.stop();
    await closeAll([...old, ...fresh]);
  }
});

test("active health checks take a failing backend out and bring it back", async () => {
  const a = await startBackend("a");
  const b = await startBackend("b");
  let healthy = true;
  b.handle = (req, res) => {
    const status = req.url === "/healthz" && !healthy ? 503 : 200;
    res.writeHead(status, { "x-backend": "b", "content-length": 2 });
    res.end("ok");
  };
  const proxy = await startProxy([a, b], { healthCheck: { path: "/healthz", intervalMs: 50, timeoutMs: 40, rise: 2, fall: 2 } });
  try {
    healthy = false;
    assert.ok(await waitFor(() => !proxy.balancer.pool("p").backends.find((x) => x.id === b.id)!.healthy));
    const before = b.received.filter((r) => r.url !== "/healthz").length;
    for (let i = 0; i < 10; i++) {
      const r = await request(`${proxy.url}/x`);
      assert.is(r.headers["x-backend"], "a");
      await r.body.text();
    }
    assert.is(b.received.filter((r) => r.url !== "/healthz").length, before);
    healthy = true;
    assert.ok(await waitFor(() => proxy.balancer.pool("p").backends.find((x) => x.id === b.id)!.routable));
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const r = await request(`${proxy.url}/y`, { reset: true });
      seen.add(String(r.headers["x-backend"]));
      await r.body.text();
    }
    assert.ok(seen.has("b"), "traffic returns to the recovered backend");
  } finally {
    await proxy.stop();
    await closeAll([a, b]);
  }
});

test("TCP mode pipes bytes both ways and honours half-close", async () => {
  // The backend reads until the client's FIN, then answers with what it got and closes its side.
  const echo = await startRawServer((socket) => {
    const chunks: Buffer[] = [];
    socket.on("data", (d) => chunks.push(d));
    socket.on("end", () => socket.end(Buffer.concat([Buffer.from("got:"), ...chunks])));
  });
  const backend = { name: "echo", port: echo.port, address: "127.0.0.1", id: `127.0.0.1:${echo.port}` } as TestBackend;
  const proxy = await startProxy([backend]);
  try {
    const client = net.connect({ host: "127.0.0.1", port: proxy.tcpPort, allowHalfOpen: true });
    const received: Buffer[] = [];
    client.on("data", (d) => received.push(d));
    const ended = new Promise<void>((resolve) => client.on("end", resolve));
    await new Promise<void>((resolve) => client.on("connect", resolve));
    const payload = Buffer.alloc(256 * 1024, 7);
    client.write(payload);
    client.end(); // half-close: the answer must still come back
    await ended;
    const all = Buffer.concat(received);
    assert.is(all.subarray(0, 4).toString(), "got:");
    assert.is(all.length, 4 + payload.length);
    assert.ok(all.subarray(4).equals(payload));
    client.destroy();
  } finally {
    await proxy.stop();
    await echo.close();
  }
});

test("TCP mode: a dead backend's connections go to a live one", async () => {
  const live = await startBackend("live");
  const dead = await startBackend("dead");
  await dead.close();
  const proxy = await startProxy([dead, live], { policy: "round-robin" });
  try {
    for (let i = 0; i < 6; i++) {
      const text = await new Promise<string>((resolve) => {
        const c = net.connect({ host: "127.0.0.1", port: proxy.tcpPort });
        let out = "";
        c.on("data", (d) => (out += d));
        c.on("close", () => resolve(out));
        c.write("GET /tcp HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      });
      assert.match(text, /live GET \/tcp/);
    }
  } finally {
    await proxy.stop();
    await live.close();
  }
});

test.run();
