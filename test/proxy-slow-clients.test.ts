// What one slow client can hold. A client that sends its head and then its body a byte at a time
// must not pin a backend's connection: small bodies are read whole before a backend is chosen
// (http.bufferBodyBytes), and a body that streams must keep a minimum rate
// (http.minBodyBytesPerSecond), or it gets 408 and its partial request never completes upstream.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { startBackend, startRawServer, type TestBackend } from "./helpers/backends.ts";
import { startProxy } from "./helpers/proxy.ts";
import { openRaw, parseResponses, rawRequest, type RawConnection } from "./helpers/raw-client.ts";

const statusOf = (text: string) => Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1] ?? -1);

/** Few upstream connections and a short queue wait, so that pinned connections show at once as 503s. */
const SCARCE = { upstream: { maxConnectionsPerBackend: 4, queueTimeoutMs: 1000 } };

/** Ten normal requests are served while the slow clients wait, on a connection or two per worker, and no slow request has reached the backend. */
async function othersServedAtOnce(port: number, backend: TestBackend): Promise<void> {
  const before = backend.connections();
  for (let i = 0; i < 10; i++) {
    const r = await rawRequest(port, `GET /normal-${i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, { waitMs: 5000 });
    assert.is(statusOf(r.text), 200, `request ${i} was served (got ${JSON.stringify(r.text.slice(0, 40))})`);
  }
  assert.ok(backend.connections() - before <= 2, "the normal requests needed no more than a connection or two per worker");
  assert.not.ok(backend.received.some((r) => r.url.startsWith("/slow-")), "no slow request reached the backend yet");
}

test("clients trickling small bodies hold no upstream connection: others are served at once", async () => {
  const backend = await startBackend("b");
  const proxy = await startProxy([backend], SCARCE);
  const slow: RawConnection[] = [];
  try {
    // 40 clients (ten times the upstream connections of a worker) send a head and one body byte.
    for (let i = 0; i < 40; i++) {
      const c = await openRaw(proxy.port);
      c.write(`POST /slow-${i} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nx`);
      slow.push(c);
    }
    await othersServedAtOnce(proxy.port, backend);
    // A slow body that does complete goes through whole.
    slow[0].write("123456789");
    assert.ok(await slow[0].waitFor((t) => parseResponses(t).length === 1), slow[0].text);
    assert.is(backend.received.find((r) => r.url === "/slow-0")?.body, "x123456789");
  } finally {
    for (const c of slow) c.destroy();
    await proxy.stop();
    await backend.close();
  }
});

test("clients trickling small bodies after Expect: 100-continue hold no upstream connection either: the proxy asks for the bodies itself", async () => {
  const backend = await startBackend("b");
  const proxy = await startProxy([backend], SCARCE);
  const slow: RawConnection[] = [];
  try {
    // As above, but each client waits to be asked for its body, then sends one byte of it.
    for (let i = 0; i < 40; i++) {
      const c = await openRaw(proxy.port);
      c.write(`POST /slow-${i} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n`);
      slow.push(c);
    }
    const asked = await Promise.all(slow.map((c) => c.waitFor((t) => t.startsWith("HTTP/1.1 100 Continue\r\n\r\n"), 5000)));
    assert.is(asked.filter(Boolean).length, 40, "every client was asked for its body");
    for (const c of slow) c.write("x");
    await othersServedAtOnce(proxy.port, backend);
    // A slow body that does complete goes through whole, and its client was asked once.
    slow[0].write("123456789");
    assert.ok(await slow[0].waitFor((t) => parseResponses(t).length === 2), slow[0].text);
    assert.equal(parseResponses(slow[0].text).map((r) => r.status), [100, 200]);
    assert.is(backend.received.find((r) => r.url === "/slow-0")?.body, "x123456789");
  } finally {
    for (const c of slow) c.destroy();
    await proxy.stop();
    await backend.close();
  }
});

test("a client asked for its body after Expect: 100-continue is held to the body deadline like any other", async () => {
  const backend = await startBackend("b");
  const proxy = await startProxy([backend], {}, { http: { bodyTimeoutMs: 300 } });
  const conn = await openRaw(proxy.port);
  try {
    conn.write("POST /never HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n");
    assert.ok(await conn.waitFor((t) => t.startsWith("HTTP/1.1 100 ")), conn.text);
    conn.write("x");
    assert.ok(await conn.waitClosed(5000), "cut once the body deadline passed");
    assert.equal(parseResponses(conn.text).map((r) => r.status), [100, 408]);
    assert.is(backend.received.length, 0);
    assert.is(backend.connections(), 0, "no upstream connection was taken for it");
  } finally {
    conn.destroy();
    await proxy.stop();
    await backend.close();
  }
});

test("a streaming body slower than http.minBodyBytesPerSecond is cut with 408; a steady one is not; its partial request never completes upstream", async () => {
  const backend = await startBackend("b");
  // Bodies stream at once (no reading whole), so only the rate protects the upstream connections.
  const proxy = await startProxy([backend], SCARCE, { http: { bufferBodyBytes: 0, minBodyBytesPerSecond: 100 } });
  const trickle = await openRaw(proxy.port);
  const steady = await openRaw(proxy.port);
  try {
    trickle.write("POST /trickle HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
    steady.write("POST /steady HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
    // 1 byte a second against 200 bytes a second, over one 10-second window and a bit.
    let sent = 0;
    for (let s = 0; s < 12 && !trickle.closed; s++) {
      trickle.write("t");
      for (let k = 0; k < 4; k++) {
        steady.write("s".repeat(50));
        sent += 50;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    assert.ok(await trickle.waitClosed(5000), "the trickling client was cut off");
    assert.is(statusOf(trickle.text), 408, JSON.stringify(trickle.text.slice(0, 60)));
    assert.not.ok(steady.closed, "the steady client is still sending");
    steady.write("s".repeat(100000 - sent));
    assert.ok(await steady.waitFor((t) => parseResponses(t).length === 1, 10_000), `${steady.closed} ${JSON.stringify(steady.text.slice(0, 80))} ${JSON.stringify(backend.received.map((r) => r.url))}`);
    assert.is(statusOf(steady.text), 200);
    assert.equal(backend.received.map((r) => r.url), ["/steady"], "the trickling request never completed at the backend");
  } finally {
    trickle.destroy();
    steady.destroy();
    await proxy.stop();
    await backend.close();
  }
});

test("a client waiting for 100 Continue is not kept waiting for a body it will not send", async () => {
  const backend = await startBackend("b");
  const proxy = await startProxy([backend]);
  const conn = await openRaw(proxy.port);
  try {
    conn.write("POST /expect HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    assert.ok(await conn.waitFor((t) => t.startsWith("HTTP/1.1 100 ")), `the 100 Continue came through: ${JSON.stringify(conn.text)}`);
    conn.write("hello");
    assert.ok(await conn.waitFor((t) => t.includes("b POST /expect 5")), conn.text);
  } finally {
    conn.destroy();
    await proxy.stop();
    await backend.close();
  }
});

test("a client still sending a body the backend answered early is read to its end and let go, so nothing is left half-open", async () => {
  // Like nginx's `return 200`: the answer goes out after the head, and the body is never read.
  const backend = await startRawServer((socket) => {
    socket.once("data", () => {
      socket.pause();
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
  });
  const proxy = await startProxy([{ name: "raw", port: backend.port, address: "127.0.0.1", id: `127.0.0.1:${backend.port}` } as never], {}, { workers: 1 });
  const client = await openRaw(proxy.port);
  try {
    // More than the socket buffers hold: the client's writes stay pending until the proxy reads them,
    // and it closes (on the proxy's end) only once they are written.
    client.write("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 16000000\r\n\r\n");
    client.write(Buffer.alloc(8_000_000, 0x61));
    assert.ok(await client.waitFor((t) => parseResponses(t).length === 1, 10_000), JSON.stringify(client.text.slice(0, 80)));
    assert.is(statusOf(client.text), 200);
    assert.match(client.text, /connection: close/i);
    assert.ok(await client.waitClosed(20_000), "the connection ended on both sides");
    const { drained } = await proxy.balancer.shutdown(10_000);
    assert.ok(drained, "no session was left behind to hold the drain");
  } finally {
    client.destroy();
    await proxy.stop();
    await backend.close();
  }
});

test.run();
