// Contract checks at the balancer, through real sockets: a request is matched to an operation of the
// listener's contract by method and path, its body validated against the operation's schema, and a
// request that fails gets 400/404/405/413/415 with a reason and never reaches a backend. Large bodies
// are checked on a validation thread; one that dies fails only the request it held.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { request } from "undici";
import { startBalancer, type Balancer } from "../native-free-core/index.ts";
import { startBackend, startRawServer, type TestBackend } from "./helpers/backends.ts";
import { waitFor } from "./helpers/proxy.ts";
import { openRaw, parseResponses, rawRequest } from "./helpers/raw-client.ts";

const ITEM = { type: "string", pattern: "^[a-z][a-z0-9-]{0,31}$" };
const OPERATIONS = {
  place: {
    method: "POST",
    path: "/orders",
    request: {
      type: "object",
      required: ["item", "quantity"],
      properties: { item: ITEM, quantity: { type: "integer", minimum: 1, maximum: 1000 } },
      additionalProperties: false,
    },
  },
  get: { method: "GET", path: "/orders/{id}", request: { type: "null" } },
  cancel: { method: "DELETE", path: "/orders/{id}", request: { type: "null" } },
  import: { method: "POST", path: "/orders/import", request: { type: "array", items: { type: "object", required: ["item"], properties: { item: ITEM } } } },
};

interface Setup {
  readonly balancer: Balancer;
  readonly backend: TestBackend;
  readonly port: number;
  readonly url: string;
}

async function withChecks(fn: (s: Setup) => Promise<void>, validate: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<void> {
  const backend = await startBackend("orders");
  const balancer = await startBalancer({
    workers: 1,
    listeners: [{ name: "front", port: 0, pool: "orders", contract: "orders@1", validate: { operations: OPERATIONS, ...validate } }],
    pools: [{ name: "orders", backends: [backend.id] }],
    admin: null,
    ...extra,
  }).catch(async (error: unknown) => {
    await backend.close();
    throw error;
  });
  const port = balancer.listeners[0].port;
  try {
    await fn({ balancer, backend, port, url: `http://127.0.0.1:${port}` });
  } finally {
    await balancer.shutdown(1000);
    await backend.close();
  }
}

async function send(url: string, method: string, path: string, body?: string | Buffer, contentType = "application/json") {
  const r = await request(url + path, { method: method as "GET", body, headers: body === undefined ? {} : { "content-type": contentType } });
  const text = await r.body.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: r.statusCode, reason: r.headers["x-farmhand-reason"], allow: r.headers.allow, text, json };
}

/** The listener's counters for one operation, as the supervisor sums them. */
function outcomes(balancer: Balancer, operation: string): Record<string, number> & { offloaded: number } {
  const op = balancer.validationCounts()[0].operations.find((o) => o.operation === operation)!;
  return { ...op.outcomes, offloaded: op.offloaded };
}

test("operation routing: method and path pick the operation; no path is a 404, another method a 405 with Allow", async () => {
  await withChecks(async ({ balancer, backend, url, port }) => {
    assert.is((await send(url, "POST", "/orders", JSON.stringify({ item: "widget", quantity: 2 }))).status, 200);
    assert.is((await send(url, "GET", "/orders/o-17")).status, 200, "a template matches one segment");
    assert.is((await send(url, "GET", "/orders/o-17?verbose=1")).status, 200, "the query is not part of the path");
    assert.is((await send(url, "POST", "/orders/import", "[]")).status, 200, "a literal path wins over a template");
    const notFound = await send(url, "GET", "/payments/p-1");
    assert.is(notFound.status, 404);
    assert.is(notFound.reason, "no-operation");
    assert.match(notFound.json.error, "no operation at GET /payments/p-1");
    assert.is((await send(url, "GET", "/orders/a/b")).status, 404, "a parameter is one segment");
    const wrongMethod = await send(url, "PUT", "/orders/o-17", "{}");
    assert.is(wrongMethod.status, 405);
    assert.is(wrongMethod.reason, "method-not-allowed");
    assert.is(wrongMethod.allow, "GET, DELETE");
    // A path a backend could normalise into another operation's never matches one.
    const dotted = await rawRequest(port, "GET /orders/x/../import HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", { waitMs: 3000 });
    assert.is(parseResponses(dotted.text)[0]?.status, 400, dotted.text);
    assert.equal(backend.received.map((r) => `${r.method} ${r.url}`), ["POST /orders", "GET /orders/o-17", "GET /orders/o-17?verbose=1", "POST /orders/import"]);
    assert.is(outcomes(balancer, "place").valid, 1);
    assert.is(outcomes(balancer, "get").valid, 2);
    assert.is(outcomes(balancer, "(none)").not_found, 3);
    assert.is(outcomes(balancer, "(none)").method_not_allowed, 1);
  });
});

test("a refused request without a body leaves the connection open: pipelined requests behind it are served in order", async () => {
  await withChecks(async ({ port }) => {
    const c = await openRaw(port);
    try {
      c.write("GET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /orders/a HTTP/1.1\r\nHost: x\r\n\r\nPOST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}GET /orders/b HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.ok(await c.waitFor((t) => parseResponses(t).length === 4, 5000), c.text);
      assert.equal(parseResponses(c.text).map((r) => r.status), [404, 200, 400, 200]);
      assert.not.ok(c.closed);
    } finally {
      c.destroy();
    }
  });
});

test("schema failures: 400 naming the fields, unreadable JSON 400, another media type 415; none reaches the backend", async () => {
  await withChecks(async ({ balancer, backend, url }) => {
    const bad = await send(url, "POST", "/orders", JSON.stringify({ item: "Widget!", quantity: 0, colour: "red" }));
    assert.is(bad.status, 400);
    assert.is(bad.reason, "invalid-body");
    assert.match(bad.json.error, "invalid request body for orders@1 place");
    assert.equal(bad.json.fields.map((f: { path: string }) => f.path).sort(), ["/colour", "/item", "/quantity"]);
    const missing = await send(url, "POST", "/orders", JSON.stringify({ item: "widget" }));
    assert.equal(missing.json.fields, [{ path: "/quantity", message: "is required" }]);
    const notJson = await send(url, "POST", "/orders", "{ item: widget }");
    assert.is(notJson.status, 400);
    assert.is(notJson.reason, "invalid-json");
    const empty = await send(url, "POST", "/orders", "");
    assert.is(empty.status, 400, "no body where the schema wants an object");
    const text = await send(url, "POST", "/orders", "widget x2", "text/plain");
    assert.is(text.status, 415);
    assert.is(text.reason, "unsupported-media-type");
    const bodyOnGet = await send(url, "DELETE", "/orders/o-1", JSON.stringify({ why: "because" }));
    assert.is(bodyOnGet.status, 400, "an operation without a request body takes none");
    // A browser's form is read as the service kit reads it: converted to the schema's types.
    assert.is((await send(url, "POST", "/orders", "item=widget&quantity=3", "application/x-www-form-urlencoded")).status, 200);
    assert.equal(backend.received.map((r) => r.body), ["item=widget&quantity=3"]);
    const place = outcomes(balancer, "place");
    assert.is(place.invalid, 4);
    assert.is(place.unsupported_media_type, 1);
    assert.is(place.valid, 1);
  });
});

test("a chunked body is checked as what it frames and forwarded as it came", async () => {
  await withChecks(async ({ backend, port }) => {
    const good = '{"item":"widget","quantity":4}';
    const chunked = `${good.slice(0, 10).length.toString(16)}\r\n${good.slice(0, 10)}\r\n${(good.length - 10).toString(16)};note=x\r\n${good.slice(10)}\r\n0\r\n\r\n`;
    const r = await rawRequest(port, `POST /orders HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${chunked}`, { waitMs: 3000 });
    assert.is(parseResponses(r.text)[0]?.status, 200, r.text);
    assert.is(backend.received[0].body, good);
    const badChunked = `5\r\n{"ite\r\n3\r\nm":\r\n0\r\n\r\n`;
    const refused = await rawRequest(port, `POST /orders HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${badChunked}`, { waitMs: 3000 });
    assert.is(parseResponses(refused.text)[0]?.status, 400, refused.text);
    assert.is(backend.received.length, 1);
  });
});

test("a large chunked body reserves the store it is checked in: one whose store does not fit the budget gets 503", async () => {
  // Budget 1.5 MiB (1,572,864 bytes). 557 KB reserves twice itself as it comes (1,114 KB, which
  // fits), then itself queued and a 1 MiB store to be checked in (1,606 KB, which does not). 398 KB
  // needs itself and a 512 KiB store (922 KB).
  const chunkedImport = (json: string) => {
    const chunks: string[] = [];
    for (let i = 0; i < json.length; i += 16_384) {
      const part = json.slice(i, i + 16_384);
      chunks.push(`${part.length.toString(16)}\r\n${part}\r\n`);
    }
    return `POST /orders/import HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${chunks.join("")}0\r\n\r\n`;
  };
  await withChecks(async ({ balancer, backend, port }) => {
    const large = bulk(28_000);
    const r = await rawRequest(port, chunkedImport(large), { waitMs: 10_000, until: (t) => parseResponses(t).length === 1 });
    const [busy] = parseResponses(r.text);
    assert.is(busy?.status, 503, r.text.slice(0, 200));
    assert.is(busy.headers["x-farmhand-reason"], "validation-busy");
    assert.is(outcomes(balancer, "import").busy, 1);
    const smaller = bulk(20_000);
    const ok = await rawRequest(port, chunkedImport(smaller), { waitMs: 10_000, until: (t) => parseResponses(t).length === 1 });
    assert.is(parseResponses(ok.text)[0]?.status, 200, ok.text.slice(0, 200));
    assert.equal(backend.received.map((x) => x.body.length), [smaller.length]);
  }, { inlineBodyBytes: 1024 }, { validation: { memoryBytes: 1.5 * 1024 * 1024 } });
});

test("a body over maxBodyBytes gets 413 and the connection closes, before its body is read", async () => {
  await withChecks(async ({ balancer, backend, port }) => {
    const r = await rawRequest(port, "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{\"item\":", { waitMs: 3000 });
    const [answer] = parseResponses(r.text);
    assert.is(answer.status, 413, r.text);
    assert.is(answer.headers["x-farmhand-reason"], "body-too-large");
    assert.ok(r.closed);
    assert.is(backend.received.length, 0);
    assert.is(outcomes(balancer, "place").too_large, 1);
  }, { maxBodyBytes: 4096 });
});

test("Expect: 100-continue: the balancer asks for the body itself, since it checks it before any backend is asked", async () => {
  await withChecks(async ({ backend, port }) => {
    const c = await openRaw(port);
    try {
      const body = JSON.stringify({ item: "widget", quantity: 1 });
      c.write(`POST /orders HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
      assert.ok(await c.waitFor((t) => t.startsWith("HTTP/1.1 100 Continue\r\n\r\n"), 3000), c.text);
      c.write(body);
      assert.ok(await c.waitFor((t) => / 200 OK\r\n/.test(t), 3000), c.text);
      assert.is(backend.received[0].body, body);
      // The backend gets the body with the head and no expectation to answer, so the client is
      // asked once, by the balancer.
      assert.is(c.text.split("HTTP/1.1 100 ").length - 1, 1, c.text);
      assert.is(backend.received[0].headers.expect, undefined);
    } finally {
      c.destroy();
    }
  });
});

/** `n` orders as one JSON array, about 40 bytes each. */
function bulk(n: number): string {
  return JSON.stringify(Array.from({ length: n }, (_, i) => ({ item: `item-${i % 1000}` })));
}

test("large bodies are checked on a validation thread: valid ones reach the backend byte for byte, invalid ones never", async () => {
  await withChecks(async ({ balancer, backend, url, port }) => {
    const big = bulk(50_000); // about 1.2 MB
    const ok = await send(url, "POST", "/orders/import", big);
    assert.is(ok.status, 200, ok.text);
    const digest = (s: string) => createHash("sha256").update(s).digest("hex");
    assert.is(digest(backend.received[0].body), digest(big));
    const broken = big.replace('"item-7"', "7");
    const refused = await send(url, "POST", "/orders/import", broken);
    assert.is(refused.status, 400);
    assert.equal(refused.json.fields, [{ path: "/7/item", message: "must be string" }]);
    const unreadable = await send(url, "POST", "/orders/import", big.slice(0, -1));
    assert.is(unreadable.status, 400);
    assert.is(unreadable.reason, "invalid-json");
    // Chunked, in many pieces: checked as the decoded body, forwarded as the chunks.
    const pieces = big.match(/[^]{1,65536}/g)!;
    const chunked = pieces.map((p) => `${Buffer.byteLength(p).toString(16)}\r\n${p}\r\n`).join("") + "0\r\n\r\n";
    const r = await rawRequest(port, `POST /orders/import HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunked}`, { waitMs: 10_000 });
    assert.is(parseResponses(r.text)[0]?.status, 200, r.text.slice(0, 200));
    assert.is(backend.received.length, 2);
    assert.is(digest(backend.received[1].body), digest(big));
    const counts = outcomes(balancer, "import");
    assert.is(counts.valid, 2);
    assert.is(counts.invalid, 2);
    assert.is(counts.offloaded, 4);
    // The data plane loads no native addon, its validation threads included (piscina's optional one
    // is installed with it, and loaded only when asked to renice a thread, which the pool never does).
    const addons = readFileSync("/proc/self/maps", "utf8").split("\n").filter((l) => /\.node$/.test(l.trim()));
    assert.equal(addons, []);
  }, { inlineBodyBytes: 1024 });
});

test("large bodies are gathered in memory reused from body to body, without mixing: after a refusal, and with a request pipelined behind", async () => {
  await withChecks(async ({ backend, url, port }) => {
    const digest = (s: string) => createHash("sha256").update(s).digest("hex");
    const first = bulk(50_000);
    // Shorter than the first and different throughout, so a reused store holding the first's bytes would show.
    const second = JSON.stringify(Array.from({ length: 40_000 }, (_, i) => ({ item: `item-${(i * 7) % 1000}` })));
    assert.is((await send(url, "POST", "/orders/import", first)).status, 200);
    assert.is((await send(url, "POST", "/orders/import", first.replace('"item-7"', "7"))).status, 400);
    assert.is((await send(url, "POST", "/orders/import", second)).status, 200);
    // The body ends inside a read that carries the next request too: that request is kept and served.
    const head = `POST /orders/import HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(first)}\r\n\r\n`;
    const r = await rawRequest(port, [head + first + "GET /orders/o-1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"], { waitMs: 10_000 });
    assert.equal(parseResponses(r.text).map((x) => x.status), [200, 200], r.text.slice(0, 300));
    assert.equal(backend.received.map((x) => x.body === "" ? "" : digest(x.body)), [digest(first), digest(second), digest(first), ""]);
    assert.is(backend.received[3].url, "/orders/o-1");
  }, { inlineBodyBytes: 1024 });
});

/**
 * A backend that reads request bodies and drops them, answering each request "ok": on its head
 * (`answer: "on-head"`, before it has read the body) or once the body is read. With `holdAfterHead`
 * it stops reading a connection after the head of its first request, until release().
 */
async function startSinkBackend(answer: "on-head" | "after-body", holdAfterHead = false) {
  const heads: string[] = [];
  const held: net.Socket[] = [];
  let holding = holdAfterHead;
  const server = await startRawServer((socket) => {
    let pending = Buffer.alloc(0);
    let bodyLeft = -1;
    const ok = () => socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    socket.on("data", (chunk: Buffer) => {
      let data = chunk;
      while (data.length > 0) {
        if (bodyLeft >= 0) {
          const used = Math.min(bodyLeft, data.length);
          bodyLeft -= used;
          data = data.subarray(used);
          if (bodyLeft === 0) {
            bodyLeft = -1;
            if (answer === "after-body") ok();
          }
          continue;
        }
        pending = Buffer.concat([pending, data]);
        data = Buffer.alloc(0);
        const end = pending.indexOf("\r\n\r\n");
        if (end < 0) break;
        const head = pending.subarray(0, end).toString("latin1");
        heads.push(head);
        bodyLeft = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        data = pending.subarray(end + 4);
        pending = Buffer.alloc(0);
        if (answer === "on-head") ok();
        if (holding) {
          socket.pause();
          held.push(socket);
        }
      }
    });
  });
  return {
    port: server.port,
    heads,
    release: () => {
      holding = false;
      for (const socket of held.splice(0)) socket.resume();
    },
    close: () => server.close(),
  };
}

/** A balancer checking OPERATIONS in front of one backend at `port`, with the given validation budget. */
function checkingBalancer(port: number, memoryBytes?: number) {
  return startBalancer({
    workers: 1,
    listeners: [{ name: "front", port: 0, pool: "orders", contract: "orders@1", validate: { operations: OPERATIONS, inlineBodyBytes: 1024 } }],
    pools: [{ name: "orders", backends: [`127.0.0.1:${port}`] }],
    admin: null,
    ...(memoryBytes === undefined ? {} : { validation: { memoryBytes } }),
  });
}

/** 10 MB, valid for the import operation: gathered in a 16 MiB store, more than the kernel takes in one write. */
const TEN_MB = Buffer.from(bulk(500_000));
const postImport = (body: Buffer) => [Buffer.from(`POST /orders/import HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`), body];

test("a backend that answers before it has read a large body: the body's memory is used again once its write is done, not left behind", async () => {
  // The response reaches the balancer while the body is still being written to the backend.
  const backend = await startSinkBackend("on-head");
  const balancer = await checkingBalancer(backend.port);
  try {
    const client = await openRaw(balancer.listeners[0].port);
    const exchange = async (i: number) => {
      for (const part of postImport(TEN_MB)) client.write(part);
      assert.ok(await client.waitFor((t) => parseResponses(t).length === i + 1, 10_000), client.text.slice(-200));
    };
    for (let i = 0; i < 4; i++) await exchange(i);
    const before = process.memoryUsage().rss;
    const bodies = 24;
    for (let i = 4; i < 4 + bodies; i++) await exchange(i);
    const grown = process.memoryUsage().rss - before;
    assert.ok(parseResponses(client.text).every((r) => r.status === 200 && r.body === "ok"), client.text.slice(0, 200));
    assert.is(backend.heads.length, 4 + bodies);
    // Left behind, each body's store would stay until a full GC in both threads that saw it:
    // up to 384 MiB over these 24 bodies. Used again, the memory does not grow with their number.
    assert.ok(grown < 48 * 1024 * 1024, `memory grew by ${(grown / 1048576).toFixed(1)} MiB over ${bodies} bodies of ${(TEN_MB.length / 1048576).toFixed(1)} MiB`);
    client.destroy();
  } finally {
    await balancer.shutdown(1000);
    await backend.close();
  }
});

test("a backend that reads slowly: large bodies being written to it stay in the validation budget, so no more are let in than it holds", async () => {
  // A budget for two 16 MiB stores, and a backend that stops reading each connection after the head.
  const backend = await startSinkBackend("after-body", true);
  const balancer = await checkingBalancer(backend.port, 40 * 1024 * 1024);
  const port = balancer.listeners[0].port;
  try {
    const clients = [await openRaw(port), await openRaw(port)];
    for (const [i, client] of clients.entries()) {
      for (const part of postImport(TEN_MB)) client.write(part);
      assert.ok(await waitFor(() => backend.heads.length === i + 1, 10_000), `body ${i + 1} checked and on its way to the backend`);
    }
    // Both are checked and handed to the backend, which holds them: a third does not fit.
    const third = await rawRequest(port, postImport(TEN_MB), { waitMs: 10_000, until: (t) => parseResponses(t).length === 1 });
    const [busy] = parseResponses(third.text);
    assert.is(busy?.status, 503, third.text.slice(0, 200));
    assert.is(busy.headers["x-farmhand-reason"], "validation-busy");
    assert.is(outcomes(balancer, "import").busy, 1);
    // Once the backend has read them, their memory is free again.
    backend.release();
    for (const client of clients) assert.ok(await client.waitFor((t) => parseResponses(t).length === 1, 10_000), client.text.slice(0, 200));
    assert.equal(clients.map((c) => parseResponses(c.text)[0].status), [200, 200]);
    const fourth = await rawRequest(port, postImport(TEN_MB), { waitMs: 10_000, until: (t) => parseResponses(t).length === 1 });
    assert.is(parseResponses(fourth.text)[0]?.status, 200, fourth.text.slice(0, 200));
    for (const client of clients) client.destroy();
  } finally {
    await balancer.shutdown(1000);
    await backend.close();
  }
});

test("while a large body is checked, small requests on the same worker are answered", async () => {
  await withChecks(async ({ url }) => {
    const big = bulk(300_000); // about 7 MB: a parse of tens of milliseconds
    const large = send(url, "POST", "/orders/import", big);
    let answered = 0;
    let largeDone = false;
    void large.then(() => (largeDone = true));
    while (!largeDone) {
      assert.is((await send(url, "GET", "/orders/o-1")).status, 200);
      answered++;
    }
    assert.is((await large).status, 200);
    assert.ok(answered >= 1, `${answered} small requests answered meanwhile`);
  }, { inlineBodyBytes: 1024 });
});

test("the worker's validation memory is bounded: a body that does not fit gets 503 with Retry-After, and nothing reaches the backend", async () => {
  await withChecks(async ({ balancer, backend, port, url }) => {
    const r = await rawRequest(port, "POST /orders/import HTTP/1.1\r\nHost: x\r\nContent-Length: 1500000\r\n\r\n[", { waitMs: 3000 });
    const [answer] = parseResponses(r.text);
    assert.is(answer.status, 503, r.text);
    assert.is(answer.headers["x-farmhand-reason"], "validation-busy");
    assert.is(answer.headers["retry-after"], "1");
    assert.is(outcomes(balancer, "import").busy, 1);
    // What fits is checked as usual, and gives its memory back.
    for (let i = 0; i < 3; i++) assert.is((await send(url, "POST", "/orders/import", bulk(20_000))).status, 200);
    assert.is(backend.received.length, 3);
  }, { inlineBodyBytes: 1024 }, { validation: { memoryBytes: 1024 * 1024 } });
});

test("clients that hang up, or whose check runs out of time, do not free memory the validation pool still holds", async () => {
  // One validation thread, and a check that never ends on its own: a pattern that backtracks
  // without end on the first item of the first body. Memory for two bodies of this size, not three.
  const slow = {
    method: "POST",
    path: "/slow",
    request: { type: "array", items: { type: "object", properties: { item: { type: "string", pattern: "^(a+)+$" } } } },
  };
  const size = 400_000;
  const body = (first: string) => {
    const filler = ',{"item":"a"}';
    return `[{"item":"${first}"}${filler.repeat(Math.ceil((size - first.length) / filler.length))}]`;
  };
  const post = (text: string) => `POST /slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${text.length}\r\nConnection: close\r\n\r\n${text}`;
  await withChecks(async ({ balancer, backend, port }) => {
    const counts = () => outcomes(balancer, "slow");
    const clients = () => balancer.traffic().pools[0].clientConnections;
    /** Sends a valid large body until it is served (a check may also run out of time on a busy machine). */
    const served = () => waitFor(async () => {
      const r = await rawRequest(port, post(body("a")), { waitMs: 10_000, until: (t) => parseResponses(t).length === 1 });
      return parseResponses(r.text)[0]?.status === 200;
    }, 30_000, 100);
    assert.ok(await served(), "the pool's thread is started and warm");
    assert.ok(await waitFor(() => clients() === 0), "the warm-up connection is gone");

    // The first client sends the body that is never done with, and resets its connection once the
    // body is with the validation pool.
    const reset = net.connect({ host: "127.0.0.1", port });
    reset.on("error", () => {});
    reset.write(post(body(`${"a".repeat(40)}!`)));
    assert.ok(await waitFor(() => counts().offloaded === 2, 10_000), "the first body went to the validation pool");
    reset.resetAndDestroy();
    assert.ok(await waitFor(() => clients() === 0), "the reset was seen");
    // The second client's body is queued behind it, and its check runs out of time.
    const late = await rawRequest(port, post(body("a")), { waitMs: 10_000, until: (t) => parseResponses(t).length === 1 });
    assert.is(parseResponses(late.text)[0]?.headers["x-farmhand-reason"], "validation-failed", late.text.slice(0, 200));
    assert.is(counts().offloaded, 3);
    assert.ok(await waitFor(() => clients() === 0), "the second client is gone");

    // Both bodies are still the pool's (one being checked, one queued): a third does not fit.
    const third = await rawRequest(port, post(body("a")), { waitMs: 10_000, until: (t) => parseResponses(t).length === 1 });
    const [answer] = parseResponses(third.text);
    assert.is(answer?.status, 503, third.text.slice(0, 200));
    assert.is(answer.headers["x-farmhand-reason"], "validation-busy");
    assert.is(counts().offloaded, 3, "the third body was not read");
    assert.is(counts().busy, 1);

    // Once the pool lets go of them, the memory is free again and large bodies are served.
    balancer.killValidationThreads();
    assert.ok(await served(), "a large body is served after the pool let go of the abandoned ones");
    assert.is(backend.received.length, 2, "the abandoned bodies never reached the backend");
  }, { operations: { slow }, inlineBodyBytes: 1024 }, { validation: { threads: 1, memoryBytes: 1024 * 1024 }, http: { bodyTimeoutMs: 2000 } });
});

test("a validation thread that dies fails the request it held with 503; the pool replaces it and serves on", async () => {
  await withChecks(async ({ balancer, backend, url }) => {
    // The pool's thread is started and warm, so the next large body goes to it at once.
    assert.is((await send(url, "POST", "/orders/import", bulk(1000))).status, 200);
    const big = bulk(600_000); // about 15 MB: its parse takes long enough to be caught in the middle
    const pending = send(url, "POST", "/orders/import", big);
    assert.ok(await waitFor(() => outcomes(balancer, "import").offloaded === 2, 10_000, 1), "the body went to the validation thread");
    balancer.killValidationThreads();
    const failed = await pending;
    assert.is(failed.status, 503, failed.text);
    assert.is(failed.reason, "validation-failed");
    assert.is(outcomes(balancer, "import").failed, 1);
    assert.is(backend.received.length, 1);
    const again = await send(url, "POST", "/orders/import", bulk(2000));
    assert.is(again.status, 200);
    assert.is(backend.received.length, 2);
  }, { inlineBodyBytes: 1024, maxBodyBytes: 32 * 1024 * 1024 });
});

test("the contract can come from an image manifest (contractFile), and the counters reach /metrics", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "farmhand-validation-"));
  const manifest = { name: "orders", entry: "server.ts", provides: { api: "orders@1" }, contracts: { "orders@1": { operations: OPERATIONS } } };
  writeFileSync(path.join(dir, "farmhand.json"), JSON.stringify(manifest));
  const backend = await startBackend("orders");
  const balancer = await startBalancer({
    workers: 2,
    listeners: [{ name: "front", port: 0, pool: "orders", contract: "orders@1", validate: { contractFile: path.join(dir, "farmhand.json") } }],
    pools: [{ name: "orders", backends: [backend.id] }],
    admin: { port: 0 },
  });
  try {
    const url = `http://127.0.0.1:${balancer.listeners[0].port}`;
    for (let i = 0; i < 4; i++) assert.is((await send(url, "GET", `/orders/o-${i}`)).status, 200);
    assert.is((await send(url, "POST", "/orders", "{}")).status, 400);
    const metrics = await (await request(`${balancer.adminUrl}/metrics`)).body.text();
    assert.match(metrics, 'farmhand_validation_requests_total{listener="front",operation="get",outcome="valid"} 4');
    assert.match(metrics, 'farmhand_validation_requests_total{listener="front",operation="place",outcome="invalid"} 1');
    const page = await (await request(`${balancer.adminUrl}/stats`)).body.text();
    assert.match(page, "contract checks on listener front");
  } finally {
    await balancer.shutdown(1000);
    await backend.close();
  }
});

test("a reload that changes the contract applies to the next request; a listener without checks passes everything", async () => {
  await withChecks(async ({ balancer, url }) => {
    assert.is((await send(url, "GET", "/anything")).status, 404);
    const config = balancer.config;
    await balancer.reload({ ...config, listeners: config.listeners.map((l) => ({ ...l, validate: null })) });
    assert.is((await send(url, "GET", "/anything")).status, 200);
    await balancer.reload(config);
    assert.is((await send(url, "GET", "/anything")).status, 404);
  });
});

test("a body nested deeper than a recursive schema can be checked is refused with 400, not a fault", async () => {
  const tree = { $id: "Tree", type: "object", properties: { kids: { type: "array", items: { $ref: "Tree" } } } };
  await withChecks(async ({ backend, url }) => {
    const depth = 50_000;
    const body = `${'{"kids":['.repeat(depth)}${"]}".repeat(depth)}`;
    const deep = await send(url, "POST", "/trees", body);
    // A fault of the session would answer 500 (and close): this is the check's own refusal.
    assert.is(deep.status, 400, deep.text);
    assert.is(deep.reason, "invalid-body");
    assert.match(deep.text, /nested too deeply to check/);
    const shallow = await send(url, "POST", "/trees", JSON.stringify({ kids: [{ kids: [] }] }));
    assert.is(shallow.status, 200, shallow.text);
    assert.equal(backend.received.map((r) => r.url), ["/trees"], "only the shallow tree reached the backend");
  }, { operations: { ...OPERATIONS, grow: { method: "POST", path: "/trees", request: tree } } });
});

test.run();
