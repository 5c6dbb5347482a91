// HTTP/1.1 proxying end to end over real sockets: connection reuse, pipelining, framing of bodies
// both ways, interim and bodiless responses, close-delimited responses, hop-by-hop and X-Forwarded-*
// fields, upgrades, and what the client gets when the upstream side fails (RFC 9110, RFC 9112).

import { createHash, randomBytes } from "node:crypto";
import net from "node:net";
import { Readable } from "node:stream";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { request } from "undici";
import { defaultHandler, startBackend, startRawServer, type TestBackend } from "./helpers/backends.ts";
import { startProxy, waitFor, type ProxyUnderTest } from "./helpers/proxy.ts";
import { openRaw, parseResponses, rawRequest, type RawConnection } from "./helpers/raw-client.ts";

// ---- helpers ----------------------------------------------------------------------------------------

async function withProxy(
  backends: readonly TestBackend[],
  fn: (proxy: ProxyUnderTest) => Promise<void>,
  pool: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
): Promise<void> {
  const proxy = await startProxy(backends, pool, extra);
  try {
    await fn(proxy);
  } finally {
    await proxy.stop();
  }
}

function statusOf(text: string): number {
  const m = /^HTTP\/1\.[01] (\d{3})[ \r]/.exec(text);
  return m === null ? -1 : Number(m[1]);
}

/** Header lines of the first response head in `text`, as [name, value] pairs in order. */
function headLines(text: string): [string, string][] {
  const end = text.indexOf("\r\n\r\n");
  return text
    .slice(0, end < 0 ? text.length : end)
    .split("\r\n")
    .slice(1)
    .map((line) => {
      const colon = line.indexOf(":");
      return [line.slice(0, colon), line.slice(colon + 1).trim()] as [string, string];
    });
}

/** Pairs of rawHeaders. */
function pairs(raw: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2) out.push([raw[i], raw[i + 1]]);
  return out;
}

/** Sends one request on an open connection and waits for a complete Content-Length framed response. */
async function exchange(conn: RawConnection, data: string, bodyless = false): Promise<{ status: number; head: string; body: string }> {
  const from = conn.text.length;
  const complete = (t: string) => {
    const s = t.slice(from);
    const headEnd = s.indexOf("\r\n\r\n");
    if (headEnd < 0) return false;
    if (bodyless) return true;
    const m = /\r\ncontent-length: *(\d+)/i.exec(s.slice(0, headEnd + 2));
    return m !== null && s.length >= headEnd + 4 + Number(m[1]);
  };
  conn.write(data);
  assert.ok(await conn.waitFor(complete, 10_000), `no complete response to ${JSON.stringify(data.slice(0, 40))}; got ${JSON.stringify(conn.text.slice(from))}`);
  const s = conn.text.slice(from);
  const headEnd = s.indexOf("\r\n\r\n");
  const m = /\r\ncontent-length: *(\d+)/i.exec(s.slice(0, headEnd + 2));
  const body = bodyless || m === null ? s.slice(headEnd + 4) : s.slice(headEnd + 4, headEnd + 4 + Number(m[1]));
  return { status: statusOf(s), head: s.slice(0, headEnd + 4), body };
}

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** `count` distinct ports nothing listens on (bound together, then closed). */
async function closedPorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => net.createServer());
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve))));
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

async function closedPort(): Promise<number> {
  return (await closedPorts(1))[0];
}

/** Outlier detection would eject a backend after a few failures; error tests turn it off. */
const NO_OUTLIERS = { outlierDetection: { consecutive5xx: 0, consecutiveConnectFailures: 0 } };

interface ScriptedRequest {
  /** 1-based number of the backend connection, in accept order. */
  readonly conn: number;
  /** 1-based number of the request on that connection. */
  readonly n: number;
  readonly method: string;
  readonly url: string;
  body: string;
}

type Action = "respond" | "close-on-head" | "close-after-body";

/**
 * A raw HTTP/1.1 backend (Content-Length bodies only) that logs every request head it receives and
 * can close a connection instead of answering — deterministically reproducing the race where a
 * backend closes a keep-alive connection just as the proxy reuses it.
 */
async function startScriptedBackend(decide: (r: ScriptedRequest) => Action) {
  const log: ScriptedRequest[] = [];
  let connections = 0;
  const raw = await startRawServer((socket) => {
    const connNo = ++connections;
    let n = 0;
    let buf = Buffer.alloc(0);
    let current: { req: ScriptedRequest; need: number; action: Action } | null = null;
    socket.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (current === null) {
          const end = buf.indexOf("\r\n\r\n");
          if (end < 0) return;
          const head = buf.subarray(0, end).toString("latin1");
          buf = buf.subarray(end + 4);
          const [method, url] = head.split("\r\n")[0].split(" ");
          const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
          const req: ScriptedRequest = { conn: connNo, n: ++n, method, url, body: "" };
          log.push(req);
          const action = decide(req);
          if (action === "close-on-head") {
            socket.destroy();
            return;
          }
          current = { req, need: length, action };
        }
        if (buf.length < current.need) return;
        current.req.body = buf.subarray(0, current.need).toString("latin1");
        buf = buf.subarray(current.need);
        const { req, action } = current;
        current = null;
        if (action === "close-after-body") {
          socket.destroy();
          return;
        }
        const text = `${req.method} ${req.url} ${req.body.length} conn=${req.conn}`;
        socket.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${text.length}\r\n\r\n${text}`);
      }
    });
  });
  const backend = { address: "127.0.0.1", port: raw.port } as unknown as TestBackend;
  return { backend, log, connections: () => connections, close: raw.close };
}

/** A raw backend that answers every request head with `reply(firstLine)` and then does what `after` says. */
async function startRawBackend(reply: (requestLine: string, socket: net.Socket) => void) {
  const raw = await startRawServer((socket) => {
    let buf = "";
    socket.on("data", (d: Buffer) => {
      buf += d.toString("latin1");
      for (;;) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const line = buf.slice(0, buf.indexOf("\r\n"));
        buf = buf.slice(end + 4);
        reply(line, socket);
      }
    });
  });
  const backend = { address: "127.0.0.1", port: raw.port } as unknown as TestBackend;
  return { backend, port: raw.port, close: raw.close };
}

// ---- connection reuse and pipelining --------------------------------------------------------------

test("keep-alive: several requests on one client connection reuse one upstream connection", async () => {
  const a = await startBackend("a");
  try {
    await withProxy([a], async (proxy) => {
      assert.is(a.connections(), 0);
      const conn = await openRaw(proxy.port);
      for (const path of ["/one", "/two", "/three", "/four"]) {
        const r = await exchange(conn, `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
        assert.is(r.status, 200);
        assert.is(r.body, `a GET ${path} 0`);
        assert.not.ok(conn.closed, "the client connection stays open");
      }
      const p = await exchange(conn, "POST /five HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
      assert.is(p.body, "a POST /five 3");
      assert.equal(a.received.map((x) => x.url), ["/one", "/two", "/three", "/four", "/five"]);
      assert.is(a.connections(), 1, "one upstream connection served all five requests");
      conn.destroy();
    });
  } finally {
    await a.close();
  }
});

test("pipelining: five requests in one write are answered in order, the slow first one included", async () => {
  const a = await startBackend("a");
  a.handle = (req, res, body) => {
    const reply = () => defaultHandler("a")(req, res, body);
    if (req.url === "/slow") setTimeout(reply, 300);
    else reply();
  };
  try {
    await withProxy([a], async (proxy) => {
      const urls = ["/slow", "/b", "/c", "/d", "/e"];
      const data = urls.map((u) => `GET ${u} HTTP/1.1\r\nHost: x\r\n\r\n`).join("");
      const r = await rawRequest(proxy.port, data, { waitMs: 10_000, until: (t) => parseResponses(t).length === 5 });
      const responses = parseResponses(r.text);
      assert.is(responses.length, 5, r.text);
      assert.equal(responses.map((x) => x.body), urls.map((u) => `a GET ${u} 0`));
      assert.not.ok(r.closed);
      assert.equal(a.received.map((x) => x.url), urls);
      // Pipelined requests with bodies, in one write.
      const mixed =
        "POST /p1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" +
        "POST /p2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n" +
        "GET /p3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
      const m = await rawRequest(proxy.port, mixed, { waitMs: 10_000 });
      assert.equal(parseResponses(m.text).map((x) => x.body), ["a POST /p1 3", "a POST /p2 2", "a GET /p3 0"]);
      assert.ok(m.closed);
    });
  } finally {
    await a.close();
  }
});

// ---- bodies ---------------------------------------------------------------------------------------

test("a chunked request body with trailers reaches the backend intact", async () => {
  const a = await startBackend("a");
  try {
    await withProxy([a], async (proxy) => {
      const r = await rawRequest(
        proxy.port,
        "POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\nConnection: close\r\n\r\n" +
          "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Checksum: abc123\r\nX-Other: two\r\n\r\n",
        { waitMs: 5000 },
      );
      assert.is(statusOf(r.text), 200, r.text);
      assert.is(a.received.length, 1);
      assert.is(a.received[0].body, "hello world");
      assert.is(a.received[0].headers["transfer-encoding"], "chunked");
      assert.equal(a.received[0].trailers, { "x-checksum": "abc123", "x-other": "two" });
    });
  } finally {
    await a.close();
  }
});

test("a chunked response with trailers is forwarded intact", async () => {
  const a = await startBackend("a");
  a.handle = (_req, res) => {
    res.writeHead(200, { "content-type": "text/plain", trailer: "X-Checksum" });
    res.write("first-");
    res.write("second");
    res.addTrailers({ "X-Checksum": "feed42" });
    res.end();
  };
  try {
    await withProxy([a], async (proxy) => {
      const r = await rawRequest(proxy.port, "GET /t HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n", { waitMs: 5000 });
      assert.is(statusOf(r.text), 200);
      assert.ok(r.closed);
      const headEnd = r.text.indexOf("\r\n\r\n");
      assert.match(r.text.slice(0, headEnd), /\r\ntransfer-encoding: chunked/i);
      const body = r.text.slice(headEnd + 4);
      // The chunked stream is passed on as the backend wrote it, trailer section included.
      assert.match(body, /\r\n0\r\nX-Checksum: feed42\r\n\r\n$/);
      assert.is(parseResponses(r.text)[0].body, "first-second");
      // And a real client decodes it, trailers included.
      const u = await request(`${proxy.url}/t`);
      assert.is(await u.body.text(), "first-second");
      assert.is(u.trailers["x-checksum"], "feed42");
    });
  } finally {
    await a.close();
  }
});

test("large bodies (5 MB) stream both ways intact, Content-Length and chunked", async () => {
  const a = await startBackend("a");
  const download = randomBytes(2.5 * 1024 * 1024).toString("hex"); // 5 MB of text
  a.handle = (req, res, body) => {
    res.setHeader("x-request-sha", sha256(body));
    res.setHeader("x-request-length", String(body.length));
    if (req.url === "/length") {
      res.writeHead(200, { "content-length": Buffer.byteLength(download) });
      res.end(download);
    } else {
      res.writeHead(200); // chunked
      for (let i = 0; i < download.length; i += 256 * 1024) res.write(download.slice(i, i + 256 * 1024));
      res.end();
    }
  };
  try {
    await withProxy([a], async (proxy) => {
      const upload = randomBytes(2.5 * 1024 * 1024).toString("hex");
      // Content-Length upload, chunked download.
      const r1 = await request(`${proxy.url}/chunked`, { method: "POST", body: upload });
      assert.is(r1.statusCode, 200);
      assert.is(r1.headers["x-request-length"], String(upload.length));
      assert.is(r1.headers["x-request-sha"], sha256(upload));
      assert.is(r1.headers["transfer-encoding"], "chunked");
      const got1 = await r1.body.text();
      assert.is(got1.length, download.length);
      assert.is(sha256(got1), sha256(download));
      // Chunked upload (a stream of unknown length), Content-Length download.
      const pieces = function* () {
        for (let i = 0; i < upload.length; i += 100_000) yield Buffer.from(upload.slice(i, i + 100_000));
      };
      const r2 = await request(`${proxy.url}/length`, { method: "POST", body: Readable.from(pieces()) });
      assert.is(r2.statusCode, 200);
      assert.is(r2.headers["content-length"], String(download.length));
      assert.is(r2.headers["x-request-sha"], sha256(upload));
      assert.is(sha256(await r2.body.text()), sha256(download));
      assert.is(a.received.at(-1)!.headers["transfer-encoding"], "chunked");
    });
  } finally {
    await a.close();
  }
});

/**
 * Has `socket` read nothing for 200 ms, then for 1 ms in every 3, until it closes: a slow peer, whose
 * kernel buffers (a few MB on loopback) fill and make the proxy's writes to it wait.
 */
function readSlowly(socket: net.Socket): void {
  socket.pause();
  let pace: NodeJS.Timeout | undefined;
  const start = setTimeout(() => {
    pace = setInterval(() => {
      socket.resume();
      setTimeout(() => socket.pause(), 1);
    }, 3);
  }, 200);
  socket.on("close", () => {
    clearTimeout(start);
    clearInterval(pace);
  });
}

/**
 * A backend that takes its time reading (readSlowly), so the proxy's writes to it
 * fill the kernel's buffers and wait. Answers each request (Content-Length or chunked body) with the
 * SHA-256 of the body it read; resets the connection of a request to /reset while its body arrives.
 */
async function startSlowReader(): Promise<{ port: number; close(): Promise<void> }> {
  return startRawServer((socket) => {
    let buf = Buffer.alloc(0);
    const take = () => {
      for (;;) {
        const headEnd = buf.indexOf("\r\n\r\n");
        if (headEnd < 0) return;
        const head = buf.subarray(0, headEnd).toString("latin1");
        if (head.startsWith("POST /reset ")) {
          setTimeout(() => socket.resetAndDestroy(), 300);
          return;
        }
        let at = headEnd + 4;
        const length = /\r\ncontent-length: *(\d+)/i.exec(head);
        let body: Buffer;
        if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
          const parts: Buffer[] = [];
          for (;;) {
            const lineEnd = buf.indexOf("\r\n", at);
            if (lineEnd < 0) return;
            const size = parseInt(buf.subarray(at, lineEnd).toString("latin1"), 16);
            if (buf.length < lineEnd + 2 + size + 2) return;
            parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
            at = lineEnd + 2 + size + 2;
            if (size === 0) break;
          }
          body = Buffer.concat(parts);
        } else {
          const n = length === null ? 0 : Number(length[1]);
          if (buf.length < at + n) return;
          body = buf.subarray(at, at + n);
          at += n;
        }
        buf = buf.subarray(at);
        socket.write(`HTTP/1.1 200 OK\r\ncontent-length: 64\r\n\r\n${sha256(body)}`);
      }
    };
    socket.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      take();
    });
    readSlowly(socket);
  });
}

test("uploads streamed to a backend that reads slowly arrive intact, several at once (HTTP and TCP), with requests pipelined behind them, after one the backend broke off", async () => {
  const slow = await startSlowReader();
  const backend = { name: "slow", address: "127.0.0.1", port: slow.port } as TestBackend;
  try {
    await withProxy([backend], async (proxy) => {
      // The backend resets while the proxy's writes of this body wait on it: the client hears 502
      // (the rest of its body is read and dropped for a while), and the memory those writes held
      // serves the uploads after it.
      const broken = await openRaw(proxy.port);
      const big = randomBytes(8 * 1024 * 1024);
      broken.write(`POST /reset HTTP/1.1\r\nHost: t\r\nContent-Length: ${big.length}\r\n\r\n`);
      broken.write(big);
      assert.ok(await broken.waitFor((t) => parseResponses(t).length === 1, 10_000), "the client of the broken upload is answered");
      assert.is(statusOf(broken.text), 502, broken.text.slice(0, 200));
      broken.destroy();
      const uploads = [0, 1, 2, 3].map(async (i) => {
        // Different bytes on each connection: a mix-up between them shows in the digests.
        const body = randomBytes(6 * 1024 * 1024 + i * 4099);
        const chunked = i % 2 === 1;
        // Two through the HTTP listener, two through the TCP one.
        const c = await openRaw(i < 2 ? proxy.port : proxy.tcpPort);
        try {
          c.write(`POST /upload/${i} HTTP/1.1\r\nHost: t\r\n${chunked ? "Transfer-Encoding: chunked" : `Content-Length: ${body.length}`}\r\n\r\n`);
          for (let at = 0; at < body.length; at += 700_000) {
            const piece = body.subarray(at, at + 700_000);
            // The last piece goes in one write with the request behind the body.
            const last = at + 700_000 >= body.length;
            const tail = last ? Buffer.from(`${chunked ? "0\r\n\r\n" : ""}GET /after/${i} HTTP/1.1\r\nHost: t\r\n\r\n`) : Buffer.alloc(0);
            c.write(chunked ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from("\r\n"), tail]) : Buffer.concat([piece, tail]));
            await sleep(5);
          }
          assert.ok(await c.waitFor((t) => parseResponses(t).length === 2, 30_000), `upload ${i}: two responses, got ${JSON.stringify(c.text.slice(0, 300))}`);
          const [upload, after] = parseResponses(c.text);
          assert.is(upload.status, 200);
          assert.is(upload.body, sha256(body), `upload ${i} reached the backend byte for byte`);
          assert.is(after.status, 200);
          assert.is(after.body, sha256(""), `the request behind upload ${i} was read as a request`);
        } finally {
          c.destroy();
        }
      });
      await Promise.all(uploads);
    }, {}, { workers: 1 });
  } finally {
    await slow.close();
  }
});

/** Sends `requests` in one write, then reads slowly (readSlowly) until what came ends with `last`. */
async function slowClient(port: number, requests: string, last: string): Promise<ReturnType<typeof parseResponses>> {
  const socket = net.connect({ host: "127.0.0.1", port });
  socket.on("error", () => {});
  const chunks: Buffer[] = [];
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`slow client: ${JSON.stringify(last)} not in after 30 s`)), 30_000);
      socket.on("connect", () => {
        socket.write(requests);
        readSlowly(socket);
      });
      socket.on("data", (d: Buffer) => {
        chunks.push(d);
        // Only the whole exchange is parsed: the parser takes a partial response for a whole one.
        if (d.subarray(-last.length).toString("latin1") === last) {
          clearTimeout(timer);
          resolve(parseResponses(Buffer.concat(chunks).toString("latin1")));
        }
      });
      socket.on("close", () => reject(new Error(`slow client: closed with ${Buffer.concat(chunks).length} bytes in`)));
    });
  } finally {
    socket.destroy();
  }
}

test("downloads streamed to clients that read slowly arrive intact, several at once (HTTP over one pipelined upstream connection, and TCP), each with a response behind it", async () => {
  const a = await startBackend("a");
  // Different bytes for each client: a mix-up between them shows in the digests.
  const bodies = [0, 1, 2, 3].map((i) => randomBytes(5 * 1024 * 1024 + i * 4099));
  a.handle = (req, res) => {
    const [, kind, n] = /^\/(length|chunked|after)\/(\d)$/.exec(req.url ?? "") ?? [];
    const body = bodies[Number(n)];
    if (kind === "after") {
      res.writeHead(200, { "content-length": String(`after-${n}`.length) });
      res.end(`after-${n}`);
    } else if (kind === "length") {
      res.writeHead(200, { "content-length": String(body.length) });
      res.end(body);
    } else {
      res.writeHead(200); // chunked
      for (let at = 0; at < body.length; at += 300_000) res.write(body.subarray(at, at + 300_000));
      res.end();
    }
  };
  try {
    await withProxy([a], async (proxy) => {
      await Promise.all([0, 1, 2, 3].map(async (i) => {
        const kind = i % 2 === 0 ? "length" : "chunked";
        // Two through the HTTP listener, two through the TCP one.
        const [download, after] = await slowClient(i < 2 ? proxy.port : proxy.tcpPort, `GET /${kind}/${i} HTTP/1.1\r\nHost: t\r\n\r\nGET /after/${i} HTTP/1.1\r\nHost: t\r\n\r\n`, `after-${i}`);
        assert.is(download.status, 200);
        assert.is(sha256(Buffer.from(download.body, "latin1")), sha256(bodies[i]), `download ${i} (${kind}) reached its client byte for byte`);
        assert.is(after.status, 200);
        assert.is(after.body, `after-${i}`);
      }));
    }, { upstream: { pipelining: 8, maxConnectionsPerBackend: 1 } }, { workers: 1 });
  } finally {
    await a.close();
  }
});

test("Expect: 100-continue: the client gets 100 Continue, then sends its body, then gets the response", async () => {
  const a = await startBackend("a");
  try {
    await withProxy([a], async (proxy) => {
      const conn = await openRaw(proxy.port);
      conn.write("PUT /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n");
      assert.ok(await conn.waitFor((t) => t.includes("\r\n\r\n")), "an interim response arrives before the body is sent");
      assert.match(conn.text, /^HTTP\/1\.1 100 /);
      assert.is(a.received.length, 0, "the backend has not got the body yet");
      const from = conn.text.length;
      conn.write("hello world");
      assert.ok(await conn.waitFor((t) => /\r\n\r\na PUT \/upload 11$/.test(t.slice(from))), conn.text);
      assert.is(statusOf(conn.text.slice(from)), 200);
      assert.is(a.received[0].body, "hello world");
      // A small body is read by the proxy, which met the expectation itself: the backend gets head and
      // body together, with nothing to ask for, and the client one 100 Continue.
      assert.is(a.received[0].headers["expect"], undefined);
      assert.is(conn.text.split("HTTP/1.1 100 ").length - 1, 1, conn.text);
      // The connection is still good for another request.
      const next = await exchange(conn, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.is(next.body, "a GET /next 0");
      conn.destroy();
      // An expectation other than 100-continue is refused.
      const bad = await rawRequest(proxy.port, "PUT /u HTTP/1.1\r\nHost: x\r\nExpect: something\r\nContent-Length: 1\r\n\r\nx", { waitMs: 5000 });
      assert.is(statusOf(bad.text), 417);
      assert.is(a.received.length, 2);
    });
  } finally {
    await a.close();
  }
});

test("Expect: 100-continue with a body over http.bufferBodyBytes: the backend is asked, and its 100 Continue reaches the client once", async () => {
  const a = await startBackend("a");
  try {
    await withProxy([a], async (proxy) => {
      const conn = await openRaw(proxy.port);
      const body = "b".repeat(100);
      conn.write(`PUT /big HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: ${body.length}\r\n\r\n`);
      // Node's server answers an expectation with 100 Continue as soon as the head reaches it.
      assert.ok(await conn.waitFor((t) => t.startsWith("HTTP/1.1 100 Continue\r\n\r\n")), conn.text);
      conn.write(body);
      assert.ok(await conn.waitFor((t) => t.endsWith("a PUT /big 100")), conn.text);
      assert.is(conn.text.split("HTTP/1.1 100 ").length - 1, 1, conn.text);
      assert.is(a.received[0].headers["expect"], "100-continue", "the backend was asked");
      conn.destroy();
    }, {}, { http: { bufferBodyBytes: 16 } });
  } finally {
    await a.close();
  }
});

test("Expect: 100-continue met by the proxy: a backend's own 100 is not passed on, other interim responses are", async () => {
  // A backend that sends 100 Continue whether asked or not, then Early Hints, then its answer.
  const raw = await startRawServer((socket) => {
    let got = "";
    socket.on("data", (d: Buffer) => {
      got += d.toString("latin1");
      const headEnd = got.indexOf("\r\n\r\n");
      if (headEnd < 0 || got.length < headEnd + 4 + 5) return;
      const expect = /\r\nexpect:/i.test(got.slice(0, headEnd)) ? "1" : "0";
      socket.write("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n" +
        `HTTP/1.1 200 OK\r\nX-Expect-Forwarded: ${expect}\r\nContent-Length: 2\r\n\r\nok`);
      got = "";
    });
  });
  try {
    await withProxy([{ address: "127.0.0.1", port: raw.port } as TestBackend], async (proxy) => {
      const conn = await openRaw(proxy.port);
      conn.write("POST /hints HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
      assert.ok(await conn.waitFor((t) => t.startsWith("HTTP/1.1 100 Continue\r\n\r\n")), conn.text);
      conn.write("hello");
      assert.ok(await conn.waitFor((t) => t.endsWith("\r\n\r\nok")), conn.text);
      const statuses = [...conn.text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
      assert.equal(statuses, [100, 103, 200], conn.text);
      assert.match(conn.text, "\r\nLink: </s.css>; rel=preload\r\n");
      assert.match(conn.text, "\r\nX-Expect-Forwarded: 0\r\n");
      conn.destroy();
    });
  } finally {
    await raw.close();
  }
});

test("HEAD with Content-Length, 204 and 304 carry no body and do not stall the next request", async () => {
  const a = await startBackend("a");
  a.handle = (req, res, body) => {
    if (req.url === "/204") {
      res.writeHead(204, { "x-kind": "no-content" });
      res.end();
    } else if (req.url === "/304") {
      res.writeHead(304, { etag: '"v1"', "content-length": "1000" });
      res.end();
    } else if (req.method === "HEAD") {
      res.writeHead(200, { "content-length": "1234", "content-type": "text/plain" });
      res.end();
    } else {
      defaultHandler("a")(req, res, body);
    }
  };
  try {
    await withProxy([a], async (proxy) => {
      const conn = await openRaw(proxy.port);
      const head = await exchange(conn, "HEAD /head HTTP/1.1\r\nHost: x\r\n\r\n", true);
      assert.is(head.status, 200);
      assert.match(head.head, /\r\ncontent-length: 1234\r\n/i);
      const noContent = await exchange(conn, "GET /204 HTTP/1.1\r\nHost: x\r\n\r\n", true);
      // Nothing arrived between the HEAD response's head and the 204.
      assert.is(head.body, "");
      assert.is(noContent.status, 204);
      const notModified = await exchange(conn, 'GET /304 HTTP/1.1\r\nHost: x\r\nIf-None-Match: "v1"\r\n\r\n', true);
      assert.is(noContent.body, "");
      assert.is(notModified.status, 304);
      const after = await exchange(conn, "GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.is(notModified.body, "");
      assert.is(after.status, 200);
      assert.is(after.body, "a GET /after 0");
      assert.not.ok(conn.closed);
      assert.is(a.connections(), 1);
      conn.destroy();

      // The same, pipelined in one write.
      const r = await rawRequest(
        proxy.port,
        "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /204 HTTP/1.1\r\nHost: x\r\n\r\nGET /304 HTTP/1.1\r\nHost: x\r\n\r\n" +
          "GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        { waitMs: 5000 },
      );
      assert.ok(r.closed);
      const statuses = [...r.text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
      assert.equal(statuses, [200, 204, 304, 200]);
      assert.ok(r.text.endsWith("\r\n\r\na GET /last 0"), r.text);
    });
  } finally {
    await a.close();
  }
});

// ---- connection endings ---------------------------------------------------------------------------

test("a response delimited by the backend's close reaches the client fully, and the client connection closes", async () => {
  const raw = await startRawBackend((_line, socket) => {
    socket.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Framing: close\r\n\r\npart one, ");
    setTimeout(() => {
      socket.write("part two, ");
      setTimeout(() => socket.end("the end"), 50);
    }, 50);
  });
  try {
    await withProxy([raw.backend], async (proxy) => {
      const r = await rawRequest(proxy.port, "GET /close HTTP/1.1\r\nHost: x\r\n\r\n", { waitMs: 5000 });
      assert.ok(r.closed, "the client connection is closed: it is how the client knows the body ended");
      assert.is(statusOf(r.text), 200);
      const headEnd = r.text.indexOf("\r\n\r\n");
      assert.is(r.text.slice(headEnd + 4), "part one, part two, the end");
      assert.match(r.text.slice(0, headEnd), /\r\nconnection: close/i);
      assert.not.match(r.text.slice(0, headEnd), /content-length|transfer-encoding/i);
    });
  } finally {
    await raw.close();
  }
});

test("HTTP/1.0 client: closed after the response unless it asked for keep-alive", async () => {
  const a = await startBackend("a");
  try {
    await withProxy([a], async (proxy) => {
      const r = await rawRequest(proxy.port, "GET /ten HTTP/1.0\r\n\r\n", { waitMs: 5000 });
      assert.ok(r.closed);
      assert.is(statusOf(r.text), 200);
      assert.is(parseResponses(r.text)[0].body, "a GET /ten 0");

      const conn = await openRaw(proxy.port);
      const k = await exchange(conn, "GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
      assert.is(k.body, "a GET /ka 0");
      assert.match(k.head, /\r\nconnection: keep-alive\r\n/i);
      const k2 = await exchange(conn, "GET /ka2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
      assert.is(k2.body, "a GET /ka2 0");
      const k3 = await exchange(conn, "GET /ka3 HTTP/1.0\r\n\r\n");
      assert.is(k3.body, "a GET /ka3 0");
      assert.ok(await conn.waitClosed(), "closed after the request without keep-alive");
      conn.destroy();

      // HTTP/1.1 with Connection: close.
      const c = await rawRequest(proxy.port, "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", { waitMs: 5000 });
      assert.ok(c.closed);
      assert.match(c.text, /\r\nconnection: close\r\n/i);
    });
  } finally {
    await a.close();
  }
});

// ---- header rewriting -----------------------------------------------------------------------------

test("hop-by-hop fields are not forwarded; the other fields keep their order and case", async () => {
  const a = await startBackend("a");
  try {
    await withProxy([a], async (proxy) => {
      const r = await rawRequest(
        proxy.port,
        "GET /hop HTTP/1.1\r\n" +
          "Host: example.test\r\n" +
          "X-First: 1\r\n" +
          "Connection: keep-alive, X-Secret, x-other-secret\r\n" +
          "Keep-Alive: timeout=5\r\n" +
          "TE: trailers\r\n" +
          "Proxy-Connection: keep-alive\r\n" +
          "X-Secret: s1\r\n" +
          "x-MiXeD-CaSe: Value With Spaces\r\n" +
          "X-Other-Secret: s2\r\n" +
          "Upgrade: websocket\r\n" +
          "accept: */*\r\n" +
          "X-Dup: one\r\n" +
          "X-Dup: two\r\n" +
          "x-last: z\r\n\r\n",
        { waitMs: 5000, until: (t) => parseResponses(t).length === 1 },
      );
      assert.is(statusOf(r.text), 200);
      const seen = pairs(a.received[0].rawHeaders).filter(([n]) => !/^(x-forwarded-.*|via)$/i.test(n));
      // The proxy's own hop comes last.
      assert.match(a.received[0].rawHeaders.at(-1)!, /^1\.1 farmhand-[0-9a-f]{12}$/);
      assert.equal(seen, [
        ["Host", "example.test"],
        ["X-First", "1"],
        ["x-MiXeD-CaSe", "Value With Spaces"],
        ["accept", "*/*"],
        ["X-Dup", "one"],
        ["X-Dup", "two"],
        ["x-last", "z"],
      ]);
    });
  } finally {
    await a.close();
  }
});

test("X-Forwarded-For/-Proto/-Host are set, overwriting what an untrusted client sent", async () => {
  const a = await startBackend("a");
  try {
    await withProxy([a], async (proxy) => {
      await rawRequest(
        proxy.port,
        "GET /xff HTTP/1.1\r\nHost: app.test\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n" +
          "x-forwarded-for: 7.7.7.7\r\nX-Forwarded-Host: evil.test\r\nConnection: close\r\n\r\n",
        { waitMs: 5000 },
      );
      const xf = pairs(a.received[0].rawHeaders)
        .filter(([n]) => /^x-forwarded-/i.test(n))
        .map(([n, v]) => [n.toLowerCase(), v]);
      assert.equal(xf.sort(), [
        ["x-forwarded-for", "127.0.0.1"],
        ["x-forwarded-host", "app.test"],
        ["x-forwarded-proto", "http"],
      ]);
    });
  } finally {
    await a.close();
  }
});

test("X-Forwarded-* from a trusted proxy are extended and kept", async () => {
  const a = await startBackend("a");
  try {
    await withProxy(
      [a],
      async (proxy) => {
        await rawRequest(
          proxy.port,
          "GET /xff HTTP/1.1\r\nHost: app.test\r\nX-Forwarded-For: 203.0.113.7\r\nX-Forwarded-For: 10.0.0.1\r\n" +
            "X-Forwarded-Proto: https\r\nX-Forwarded-Host: public.test\r\nConnection: close\r\n\r\n",
          { waitMs: 5000 },
        );
        const h = a.received[0].rawHeaders;
        const values = (name: string) => pairs(h).filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
        assert.equal(values("x-forwarded-for"), ["203.0.113.7, 10.0.0.1, 127.0.0.1"]);
        assert.equal(values("x-forwarded-proto"), ["https"]);
        assert.equal(values("x-forwarded-host"), ["public.test"]);

        // A trusted peer that sent none: they are set as for anyone.
        await rawRequest(proxy.port, "GET /none HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n", { waitMs: 5000 });
        const h2 = pairs(a.received[1].rawHeaders).filter(([n]) => /^x-forwarded-/i.test(n)).map(([n, v]) => [n.toLowerCase(), v]);
        assert.equal(h2.sort(), [
          ["x-forwarded-for", "127.0.0.1"],
          ["x-forwarded-host", "app.test"],
          ["x-forwarded-proto", "http"],
        ]);
      },
      {},
      { http: { trustedProxies: ["127.0.0.1"] } },
    );
  } finally {
    await a.close();
  }
});

test("the client does not see the backend's Connection, Keep-Alive or Proxy-Connection fields", async () => {
  const a = await startBackend("a");
  a.handle = (_req, res) => {
    res.setHeader("Keep-Alive", "timeout=30, max=100");
    res.setHeader("Proxy-Connection", "keep-alive");
    res.setHeader("X-Kept", "yes");
    res.writeHead(200, { "content-length": 2, connection: "keep-alive" });
    res.end("ok");
  };
  try {
    await withProxy([a], async (proxy) => {
      const conn = await openRaw(proxy.port);
      const r = await exchange(conn, "GET /h HTTP/1.1\r\nHost: x\r\n\r\n");
      const names = headLines(r.head).map(([n]) => n.toLowerCase());
      assert.not.ok(names.includes("connection"), r.head);
      assert.not.ok(names.includes("keep-alive"), r.head);
      assert.not.ok(names.includes("proxy-connection"), r.head);
      assert.ok(names.includes("x-kept"));
      assert.is(r.body, "ok");
      conn.destroy();
    });
  } finally {
    await a.close();
  }
});

test("a backend's lone 'Connection: keep-alive' never contradicts how the proxy ends the client connection", async () => {
  // RFC 9110 7.6.1 lets an intermediary replace Connection with its own options, so a persistent
  // client may see "keep-alive" again; a client whose connection the proxy closes must see only "close".
  const raw = await startRawBackend((_line, socket) => {
    socket.write("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok");
  });
  try {
    await withProxy([raw.backend], async (proxy) => {
      const conn = await openRaw(proxy.port);
      const r = await exchange(conn, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.is(r.body, "ok");
      const connection = headLines(r.head).filter(([n]) => n.toLowerCase() === "connection").map(([, v]) => v.toLowerCase());
      assert.ok(connection.length === 0 || (connection.length === 1 && connection[0] === "keep-alive"), r.head);
      const again = await exchange(conn, "GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.is(again.body, "ok");
      conn.destroy();

      const c = await rawRequest(proxy.port, "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", { waitMs: 5000 });
      assert.ok(c.closed);
      assert.equal(headLines(c.text).filter(([n]) => n.toLowerCase() === "connection").map(([, v]) => v.toLowerCase()), ["close"]);
      const ten = await rawRequest(proxy.port, "GET /d HTTP/1.0\r\n\r\n", { waitMs: 5000 });
      assert.ok(ten.closed);
      assert.equal(headLines(ten.text).filter(([n]) => n.toLowerCase() === "connection").map(([, v]) => v.toLowerCase()), ["close"]);
    });
  } finally {
    await raw.close();
  }
});

test("response fields named in the backend's Connection header are not forwarded (RFC 9110 7.6.1)", async () => {
  const raw = await startRawBackend((_line, socket) => {
    socket.write("HTTP/1.1 200 OK\r\nConnection: X-Backend-Secret\r\nX-Backend-Secret: s\r\nX-Kept: yes\r\nContent-Length: 2\r\n\r\nok");
  });
  try {
    await withProxy([raw.backend], async (proxy) => {
      const r = await rawRequest(proxy.port, "GET /h HTTP/1.1\r\nHost: x\r\n\r\n", { waitMs: 5000, until: (t) => parseResponses(t).length === 1 });
      const names = headLines(r.text).map(([n]) => n.toLowerCase());
      assert.is(statusOf(r.text), 200);
      assert.ok(names.includes("x-kept"));
      assert.not.ok(names.includes("connection"), r.text);
      assert.not.ok(names.includes("x-backend-secret"), r.text);
    });
  } finally {
    await raw.close();
  }
});

// ---- upgrade --------------------------------------------------------------------------------------

test("Upgrade: after the backend's 101 bytes flow both ways through the tunnel", async () => {
  let upgradeHead = "";
  const raw = await startRawServer((socket) => {
    let buf = "";
    let upgraded = false;
    socket.on("data", (d: Buffer) => {
      if (upgraded) {
        socket.write(Buffer.from(`echo:${d.toString("latin1")}`, "latin1"));
        return;
      }
      buf += d.toString("latin1");
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      upgradeHead = buf.slice(0, end);
      upgraded = true;
      socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Tunnel: yes\r\n\r\n");
      const rest = buf.slice(end + 4);
      if (rest !== "") socket.write(Buffer.from(`echo:${rest}`, "latin1"));
    });
  });
  try {
    await withProxy([{ address: "127.0.0.1", port: raw.port } as unknown as TestBackend], async (proxy) => {
      const conn = await openRaw(proxy.port);
      conn.write("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n");
      assert.ok(await conn.waitFor((t) => t.includes("\r\n\r\n")));
      assert.is(statusOf(conn.text), 101);
      assert.match(conn.text, /\r\nupgrade: websocket\r\n/i);
      assert.match(conn.text, /\r\nconnection: upgrade\r\n/i);
      assert.match(upgradeHead, /\r\nUpgrade: websocket(\r\n|$)/);
      assert.match(upgradeHead, /\r\nConnection: upgrade(\r\n|$)/i);
      const from = conn.text.length;
      conn.write("ping \x00\x01\xff binary");
      assert.ok(await conn.waitFor((t) => t.slice(from) === "echo:ping \x00\x01\xff binary"), JSON.stringify(conn.text.slice(from)));
      const from2 = conn.text.length;
      conn.write("GET /not-http HTTP/1.1\r\n\r\n");
      assert.ok(await conn.waitFor((t) => t.slice(from2) === "echo:GET /not-http HTTP/1.1\r\n\r\n"), "the tunnel carries anything, unparsed");
      conn.destroy();
    });
  } finally {
    await raw.close();
  }
});

// ---- upstream failures ----------------------------------------------------------------------------

test("connect failure (the only backend's port is closed): 502", async () => {
  const port = await closedPort();
  const dead = { address: "127.0.0.1", port } as unknown as TestBackend;
  await withProxy(
    [dead],
    async (proxy) => {
      const r = await rawRequest(proxy.port, "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", { waitMs: 10_000 });
      assert.is(statusOf(r.text), 502, r.text);
    },
    NO_OUTLIERS,
  );
});

test("connect failure on every backend (two, both ports closed): 502", async () => {
  const dead = (await closedPorts(2)).map((port) => ({ address: "127.0.0.1", port }) as unknown as TestBackend);
  await withProxy(
    dead,
    async (proxy) => {
      const r = await rawRequest(proxy.port, "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", { waitMs: 10_000 });
      assert.is(statusOf(r.text), 502, r.text);
    },
    NO_OUTLIERS,
  );
});

test("connect failure on one of two backends: the request goes to the other", async () => {
  const port = await closedPort();
  const dead = { address: "127.0.0.1", port } as unknown as TestBackend;
  const a = await startBackend("a");
  try {
    await withProxy(
      [dead, a],
      async (proxy) => {
        for (let i = 0; i < 4; i++) {
          const r = await rawRequest(proxy.port, `GET /r${i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, { waitMs: 10_000 });
          assert.is(statusOf(r.text), 200, r.text);
          assert.is(parseResponses(r.text)[0].body, `a GET /r${i} 0`);
        }
      },
      NO_OUTLIERS,
    );
  } finally {
    await a.close();
  }
});

test("backend resets in the middle of its response head: 502", async () => {
  const raw = await startRawBackend((line, socket) => {
    socket.write("HTTP/1.1 200 OK\r\nX-Leak: partial-he");
    setTimeout(() => (line.includes("/reset") ? socket.resetAndDestroy() : socket.end()), 50);
  });
  try {
    await withProxy(
      [raw.backend],
      async (proxy) => {
        const r = await rawRequest(proxy.port, "GET /reset HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", { waitMs: 10_000 });
        assert.is(statusOf(r.text), 502, r.text);
        assert.not.match(r.text, /X-Leak|partial-he/, "nothing of the broken head leaks to the client");
        // Closing (instead of resetting) mid-head is the same.
        const r2 = await rawRequest(proxy.port, "GET /close HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", { waitMs: 10_000 });
        assert.is(statusOf(r2.text), 502, r2.text);
      },
      NO_OUTLIERS,
    );
  } finally {
    await raw.close();
  }
});

test("malformed responses: 502", async () => {
  const replies: Record<string, string> = {
    "/garbage": "garbage\r\n\r\n",
    "/status": "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
    "/version": "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
    "/cl-te": "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "/two-cl": "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    "/bad-cl": "HTTP/1.1 200 OK\r\nContent-Length: 3x\r\n\r\nabc",
    "/space-colon": "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok",
    "/obs-fold": "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
    "/bare-cr": "HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 2\r\n\r\nok",
    "/bare-lf": "HTTP/1.1 200 OK\nContent-Length: 2\r\n\r\nok",
    "/unasked-101": "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
  };
  const raw = await startRawBackend((line, socket) => {
    const url = line.split(" ")[1];
    socket.write(replies[url] ?? "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  });
  try {
    await withProxy(
      [raw.backend],
      async (proxy) => {
        for (const url of Object.keys(replies)) {
          const r = await rawRequest(proxy.port, `GET ${url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, { waitMs: 10_000 });
          assert.is(statusOf(r.text), 502, `${url}: ${JSON.stringify(r.text.slice(0, 60))}`);
          assert.is(parseResponses(r.text).length, 1, `${url}: only the 502`);
        }
        const ok = await rawRequest(proxy.port, "GET /fine HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", { waitMs: 10_000 });
        assert.is(statusOf(ok.text), 200);
      },
      NO_OUTLIERS,
    );
  } finally {
    await raw.close();
  }
});

test("no routable backend (empty pool): 503", async () => {
  await withProxy([], async (proxy) => {
    const r = await rawRequest(proxy.port, "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", { waitMs: 5000 });
    assert.is(statusOf(r.text), 503, r.text);
    const u = await request(`${proxy.url}/y`);
    assert.is(u.statusCode, 503);
    await u.body.text();
  }, { backends: [] });
});

test("queue full (one connection per backend, no queue): the second concurrent request gets 503", async () => {
  const a = await startBackend("a");
  const parked: (() => void)[] = [];
  a.handle = (req, res, body) => parked.push(() => defaultHandler("a")(req, res, body));
  try {
    await withProxy(
      [a],
      async (proxy) => {
        const first = rawRequest(proxy.port, "GET /first HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", { waitMs: 10_000 });
        // The first request holds the only upstream connection.
        assert.ok(await waitFor(() => parked.length === 1));
        const second = await rawRequest(proxy.port, "GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", { waitMs: 10_000 });
        assert.is(statusOf(second.text), 503, second.text);
        parked.shift()!();
        const r1 = await first;
        assert.is(statusOf(r1.text), 200);
        assert.equal(a.received.map((x) => x.url), ["/first"]);
      },
      // Limits are per worker thread: one worker makes "two concurrent requests" deterministic.
      { upstream: { maxConnectionsPerBackend: 1, maxQueue: 0 } },
      { workers: 1 },
    );
  } finally {
    for (const release of parked) release();
    await a.close();
  }
});

test("upstream response timeout: 504", async () => {
  const a = await startBackend("a");
  a.handle = () => {}; // never answers
  try {
    await withProxy(
      [a],
      async (proxy) => {
        const r = await rawRequest(proxy.port, "GET /hang HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", { waitMs: 10_000 });
        assert.is(statusOf(r.text), 504, r.text);
        assert.is(a.received.length, 1);
      },
      { ...NO_OUTLIERS, upstream: { responseTimeoutMs: 300 } },
    );
  } finally {
    await a.close();
  }
});

// ---- retries ----------------------------------------------------------------------------------------

test("a reused upstream connection the backend closed while idle: the next GET and POST still succeed", async () => {
  const a = await startBackend("a");
  try {
    await withProxy([a], async (proxy) => {
      const conn = await openRaw(proxy.port);
      assert.is((await exchange(conn, "GET /one HTTP/1.1\r\nHost: x\r\n\r\n")).status, 200);
      a.dropConnections();
      const two = await exchange(conn, "GET /two HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.is(two.status, 200);
      assert.is(two.body, "a GET /two 0");
      a.dropConnections();
      const three = await exchange(conn, "POST /three HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
      assert.is(three.status, 200);
      assert.is(three.body, "a POST /three 0");
      assert.not.ok(conn.closed);
      conn.destroy();
    }, NO_OUTLIERS);
  } finally {
    await a.close();
  }
});

test("retry: the backend closes a reused connection when the next request arrives; GET is retried on a fresh one", async () => {
  // Every connection answers its first request and closes on the second, without a response byte.
  const s = await startScriptedBackend((r) => (r.n >= 2 ? "close-on-head" : "respond"));
  try {
    await withProxy([s.backend], async (proxy) => {
      const conn = await openRaw(proxy.port);
      assert.is((await exchange(conn, "GET /one HTTP/1.1\r\nHost: x\r\n\r\n")).body, "GET /one 0 conn=1");
      const two = await exchange(conn, "GET /two HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.is(two.status, 200);
      assert.is(two.body, "GET /two 0 conn=2");
      assert.equal(s.log.map((r) => [r.url, r.conn, r.n]), [["/one", 1, 1], ["/two", 1, 2], ["/two", 2, 1]]);
      // An idempotent request with a (small) body is replayed too.
      const put = await exchange(conn, "PUT /three HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
      assert.is(put.status, 200);
      assert.is(put.body, "PUT /three 5 conn=3");
      conn.destroy();
    }, NO_OUTLIERS);
  } finally {
    await s.close();
  }
});

test("retry: a POST whose body was not yet sent is retried on a fresh connection", async () => {
  const s = await startScriptedBackend((r) => (r.n >= 2 ? "close-on-head" : "respond"));
  try {
    await withProxy([s.backend], async (proxy) => {
      const conn = await openRaw(proxy.port);
      assert.is((await exchange(conn, "GET /warm HTTP/1.1\r\nHost: x\r\n\r\n")).status, 200);
      // A POST without a body.
      const empty = await exchange(conn, "POST /empty HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
      assert.is(empty.status, 200);
      assert.is(empty.body, "POST /empty 0 conn=2");
      // A POST whose head went out on the stale connection but whose body the client had not sent yet.
      const from = conn.text.length;
      conn.write("POST /late-body HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n");
      assert.ok(await waitFor(() => s.log.some((r) => r.url === "/late-body" && r.n === 1)), "replayed on a fresh connection");
      conn.write("hello");
      assert.ok(await conn.waitFor((t) => t.slice(from).endsWith("POST /late-body 5 conn=3")), conn.text.slice(from));
      assert.is(statusOf(conn.text.slice(from)), 200);
      assert.equal(
        s.log.filter((r) => r.url === "/late-body").map((r) => [r.conn, r.n, r.body]),
        [[2, 2, ""], [3, 1, "hello"]],
      );
      conn.destroy();
      // Bodies stream at once here: with them read whole first, the head would not leave before its body.
    }, NO_OUTLIERS, { http: { bufferBodyBytes: 0 } });
  } finally {
    await s.close();
  }
});

test("no retry: a POST whose body was sent on a reused connection that then closed gets 502, seen at most once", async () => {
  const s = await startScriptedBackend((r) => (r.n >= 2 ? "close-after-body" : "respond"));
  try {
    await withProxy([s.backend], async (proxy) => {
      const conn = await openRaw(proxy.port);
      assert.is((await exchange(conn, "GET /warm HTTP/1.1\r\nHost: x\r\n\r\n")).status, 200);
      const r = await exchange(conn, "POST /pay HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
      assert.is(r.status, 502);
      const seen = s.log.filter((x) => x.url === "/pay");
      assert.is(seen.length, 1, "a non-idempotent request whose body was sent is never replayed");
      assert.is(seen[0].body, "hello");
      conn.destroy();
    }, NO_OUTLIERS);
  } finally {
    await s.close();
  }
});

test.run();
