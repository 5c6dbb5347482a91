// The opt-in upstream pipelining (upstream.pipelining > 1): safe requests share connections, each
// client still gets its own response, and requests caught behind a failure are sent again.

import net from "node:net";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Pool, request } from "undici";
import { startBackend, startRawServer, type TestBackend } from "./helpers/backends.ts";
import { startProxy } from "./helpers/proxy.ts";

test("concurrent GETs share a few upstream connections and each client gets its own response", async () => {
  const backend = await startBackend("a");
  backend.handle = (req, res) => {
    // Answer out of arrival order in time; the connection must still deliver in request order.
    const delay = Number(new URL(req.url!, "http://x").searchParams.get("d") ?? 0);
    setTimeout(() => {
      const body = `echo ${req.url}`;
      res.writeHead(200, { "content-length": Buffer.byteLength(body) });
      res.end(body);
    }, delay);
  };
  const proxy = await startProxy([backend], { upstream: { pipelining: 8, maxConnectionsPerBackend: 4 } }, { workers: 1 });
  const clients = new Pool(proxy.url, { connections: 32 });
  try {
    const results = await Promise.all(
      Array.from({ length: 400 }, async (_, i) => {
        const r = await clients.request({ path: `/item/${i}?d=${i % 7}`, method: "GET" });
        return { i, status: r.statusCode, body: await r.body.text() };
      }),
    );
    for (const r of results) {
      assert.is(r.status, 200);
      assert.is(r.body, `echo /item/${r.i}?d=${r.i % 7}`);
    }
    assert.ok(backend.connections() <= 4, `upstream connections: ${backend.connections()}`);
  } finally {
    await clients.close();
    await proxy.stop();
    await backend.close();
  }
});

test("requests with a body never wait behind others on a connection", async () => {
  const backend = await startBackend("a");
  const proxy = await startProxy([backend], { upstream: { pipelining: 8 } }, { workers: 1 });
  const clients = new Pool(proxy.url, { connections: 8 });
  try {
    const results = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const r = i % 2 === 0
          ? await clients.request({ path: `/get/${i}`, method: "GET" })
          : await clients.request({ path: `/post/${i}`, method: "POST", body: `payload-${i}` });
        return { i, body: await r.body.text() };
      }),
    );
    for (const r of results) {
      assert.is(r.body, r.i % 2 === 0 ? `a GET /get/${r.i} 0` : `a POST /post/${r.i} ${`payload-${r.i}`.length}`);
    }
  } finally {
    await clients.close();
    await proxy.stop();
    await backend.close();
  }
});

test("a connection that closes with pipelined requests waiting: they are sent again and succeed", async () => {
  // A backend that reads every pipelined request but answers only the first, then closes.
  let served = 0;
  const flaky = await startRawServer((socket) => {
    let buffered = "";
    let answered = false;
    socket.on("data", (d) => {
      buffered += d.toString("latin1");
      if (!answered && buffered.includes("\r\n\r\n")) {
        answered = true;
        served++;
        const path = buffered.split(" ")[1];
        const body = `first ${path}`;
        // Wait a moment so that more requests are queued on this connection, then answer and close.
        setTimeout(() => {
          socket.end(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        }, 50);
      }
    });
  });
  const backend = { name: "flaky", port: flaky.port, address: "127.0.0.1", id: `127.0.0.1:${flaky.port}` } as TestBackend;
  const proxy = await startProxy([backend], { upstream: { pipelining: 8, maxConnectionsPerBackend: 1 } }, { workers: 1 });
  try {
    const results = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const r = await request(`${proxy.url}/r${i}`, { reset: true });
        return { i, status: r.statusCode, body: await r.body.text() };
      }),
    );
    for (const r of results) {
      assert.is(r.status, 200, `request ${r.i}: ${r.body}`);
      assert.is(r.body, `first /r${r.i}`);
    }
    // Requests queued behind the first on a closing connection were sent again.
    const metrics = (await proxy.balancer.metrics()).body;
    const retries = Number(/farmhand_upstream_retries_total\{[^}]*\} (\d+)/.exec(metrics)?.[1] ?? 0);
    assert.ok(retries > 0, `retries: ${retries}`);
    assert.ok(served >= 6);
  } finally {
    await proxy.stop();
    await flaky.close();
  }
});

test("pipelining stays off by default: each request has a connection to itself", async () => {
  const backend = await startBackend("a");
  let concurrentMax = 0;
  let concurrent = 0;
  // Each answer waits until all ten requests are at the backend at once (or two seconds, so that a
  // proxy that queued or pipelined them fails the count instead of hanging): on a busy machine the
  // ten need not all arrive within any shorter time.
  const waiting: (() => void)[] = [];
  backend.handle = (_req, res) => {
    concurrent++;
    concurrentMax = Math.max(concurrentMax, concurrent);
    const answer = () => {
      concurrent--;
      res.writeHead(200, { "content-length": 2 });
      res.end("ok");
    };
    if (concurrent === 10) {
      answer();
      for (const w of waiting.splice(0)) w();
    } else {
      const timer = setTimeout(() => {
        waiting.splice(waiting.indexOf(release), 1);
        answer();
      }, 2000);
      const release = () => {
        clearTimeout(timer);
        answer();
      };
      waiting.push(release);
    }
  };
  const proxy = await startProxy([backend], {}, { workers: 1 });
  const sockets: net.Socket[] = [];
  try {
    await Promise.all(Array.from({ length: 10 }, async () => {
      const r = await request(`${proxy.url}/x`, { reset: true });
      await r.body.text();
    }));
    // Node's HTTP server answers one request per connection at a time: ten at once means ten connections.
    assert.is(backend.connections(), 10);
    assert.is(concurrentMax, 10);
  } finally {
    for (const s of sockets) s.destroy();
    await proxy.stop();
    await backend.close();
  }
});

test.run();
