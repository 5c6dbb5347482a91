// Request smuggling and bad input, end to end over real sockets: every vector must be refused with
// the listed status, the client connection closed, and nothing of it may reach the backend
// (RFC 9112 sections 2-7, RFC 9110 section 5.5 and 7.6). Each group runs against a fresh backend, so
// `received` and `connections()` speak only for that group; each group ends by sending one valid
// request to show that the backend was reachable all along (the checks are not vacuous).

import { test } from "uvu";
import * as assert from "uvu/assert";
import { startBackend, startRawServer, type TestBackend } from "./helpers/backends.ts";
import { startProxy, waitFor, type ProxyUnderTest } from "./helpers/proxy.ts";
import { openRaw, parseResponses, rawRequest } from "./helpers/raw-client.ts";

interface Vector {
  readonly name: string;
  readonly data: string | readonly (string | Buffer)[];
  /** Expected status; 400 unless told. */
  readonly status?: number;
}

/** Runs a proxy in front of a fresh backend for one group of vectors. */
async function withProxy(
  fn: (proxy: ProxyUnderTest, backend: TestBackend) => Promise<void>,
  pool: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
): Promise<void> {
  const backend = await startBackend("b");
  const proxy = await startProxy([backend], pool, extra);
  try {
    await fn(proxy, backend);
  } finally {
    await proxy.stop();
    await backend.close();
  }
}

function statusOf(text: string): number {
  const m = /^HTTP\/1\.1 (\d{3}) /.exec(text);
  return m === null ? -1 : Number(m[1]);
}

/** Sends the vector, expects exactly one canned refusal and a closed connection, and nothing at the backend. */
async function expectRefused(proxy: ProxyUnderTest, backend: TestBackend, v: Vector): Promise<void> {
  const expected = v.status ?? 400;
  const r = await rawRequest(proxy.port, v.data, { waitMs: 5000 });
  assert.is(statusOf(r.text), expected, `${v.name}: status (got ${JSON.stringify(r.text.slice(0, 80))})`);
  assert.ok(r.closed, `${v.name}: the proxy must close the connection after refusing`);
  const responses = parseResponses(r.text);
  assert.is(responses.length, 1, `${v.name}: exactly one response (the refusal), got ${responses.length}`);
  assert.is(responses[0].headers["connection"]?.toLowerCase(), "close", `${v.name}: the refusal announces Connection: close`);
  assert.is(backend.received.length, 0, `${v.name}: nothing may reach the backend, got ${JSON.stringify(backend.received.map((x) => `${x.method} ${x.url}`))}`);
}

/** All vectors refused, then: no upstream connection was ever opened, and a valid request still goes through. */
async function expectAllRefused(proxy: ProxyUnderTest, backend: TestBackend, vectors: readonly Vector[]): Promise<void> {
  for (const v of vectors) await expectRefused(proxy, backend, v);
  assert.is(backend.connections(), 0, "no upstream connection for refused requests");
  await expectBackendReachable(proxy, backend);
}

async function expectBackendReachable(proxy: ProxyUnderTest, backend: TestBackend): Promise<void> {
  const before = backend.received.length;
  const ok = await rawRequest(proxy.port, "GET /control HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", { waitMs: 5000 });
  assert.is(statusOf(ok.text), 200, "control request");
  assert.is(backend.received.length, before + 1);
  assert.is(backend.received[before].url, "/control");
}

const post = (headers: string, body = "") => `POST /p HTTP/1.1\r\nHost: x\r\n${headers}\r\n${body}`;

// ---- Content-Length and Transfer-Encoding ----------------------------------------------------------

test("Content-Length with Transfer-Encoding, conflicting and malformed Content-Length: 400, closed, nothing upstream", async () => {
  await withProxy(async (proxy, backend) => {
    await expectAllRefused(proxy, backend, [
      { name: "CL then TE", data: post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n") },
      { name: "TE then CL", data: post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "0\r\n\r\n") },
      { name: "CL 0 with TE", data: post("Content-Length: 0\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n") },
      { name: "two differing CL", data: post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!") },
      { name: "two differing CL, second shorter", data: post("Content-Length: 6\r\nContent-Length: 5\r\n", "hello!") },
      { name: "CL list '1, 2'", data: post("Content-Length: 1, 2\r\n", "ab") },
      { name: "CL '+5'", data: post("Content-Length: +5\r\n", "hello") },
      { name: "CL '5a'", data: post("Content-Length: 5a\r\n", "hello") },
      { name: "CL '-1'", data: post("Content-Length: -1\r\n", "") },
      { name: "CL ' ' (blank)", data: post("Content-Length:  \r\n", "") },
      { name: "CL empty", data: post("Content-Length:\r\n", "") },
      { name: "CL hex '0x5'", data: post("Content-Length: 0x5\r\n", "hello") },
      { name: "CL hex 'a'", data: post("Content-Length: a\r\n", "0123456789") },
      { name: "CL '5 5' (inner space)", data: post("Content-Length: 5 5\r\n", "hello") },
      { name: "CL '5.0'", data: post("Content-Length: 5.0\r\n", "hello") },
      { name: "CL too large for an exact integer", data: post("Content-Length: 99999999999999999999\r\n", "hello") },
    ]);
  });
});

test("Transfer-Encoding other than a single final chunked: 400, closed, nothing upstream", async () => {
  await withProxy(async (proxy, backend) => {
    await expectAllRefused(proxy, backend, [
      { name: "TE gzip alone", data: post("Transfer-Encoding: gzip\r\n", "hello") },
      { name: "TE identity alone", data: post("Transfer-Encoding: identity\r\n", "hello") },
      { name: "TE 'chunked, gzip'", data: post("Transfer-Encoding: chunked, gzip\r\n", "0\r\n\r\n") },
      { name: "TE chunked twice on one line", data: post("Transfer-Encoding: chunked, chunked\r\n", "0\r\n\r\n") },
      { name: "TE chunked twice across two lines", data: post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n") },
      { name: "TE chunked then identity on another line", data: post("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", "0\r\n\r\n") },
      { name: "TE xchunked", data: post("Transfer-Encoding: xchunked\r\n", "0\r\n\r\n") },
      { name: "TE chunkedx", data: post("Transfer-Encoding: chunkedx\r\n", "0\r\n\r\n") },
      { name: "TE quoted", data: post('Transfer-Encoding: "chunked"\r\n', "0\r\n\r\n") },
      {
        name: "TE in an HTTP/1.0 request",
        data: "POST /p HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
      },
      { name: "TE with a space before the colon", data: post("Transfer-Encoding : chunked\r\n", "0\r\n\r\n") },
      { name: "TE 'gzip, chunked' (a coding no backend here decodes)", data: post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"), status: 501 },
      { name: "TE continued by obs-fold", data: post("Transfer-Encoding: x\r\n chunked\r\n", "0\r\n\r\n") },
    ]);
  });
});

// ---- chunked framing ----------------------------------------------------------------------------

const chunkedPost = (body: string) => post("Transfer-Encoding: chunked\r\n", body);

test("invalid chunked framing that arrives with the head: 400, closed, nothing upstream", async () => {
  await withProxy(async (proxy, backend) => {
    await expectAllRefused(proxy, backend, [
      { name: "non-hex chunk size", data: chunkedPost("zz\r\nhello\r\n0\r\n\r\n") },
      { name: "chunk size '0x5'", data: chunkedPost("0x5\r\nhello\r\n0\r\n\r\n") },
      { name: "negative chunk size", data: chunkedPost("-5\r\nhello\r\n0\r\n\r\n") },
      { name: "'+5' chunk size", data: chunkedPost("+5\r\nhello\r\n0\r\n\r\n") },
      { name: "empty chunk size", data: chunkedPost("\r\nhello\r\n0\r\n\r\n") },
      { name: "chunk size too long (20 hex digits)", data: chunkedPost("fffffffffffffffffff5\r\nhello\r\n0\r\n\r\n") },
      { name: "chunk size with leading whitespace", data: chunkedPost(" 5\r\nhello\r\n0\r\n\r\n") },
      { name: "missing CRLF after chunk data", data: chunkedPost("5\r\nhelloX\r\n0\r\n\r\n") },
      { name: "chunk data longer than its size", data: chunkedPost("3\r\nhello\r\n0\r\n\r\n") },
      { name: "bare LF after chunk data", data: chunkedPost("5\r\nhello\n0\r\n\r\n") },
      { name: "bare LF in the size line", data: chunkedPost("5\nhello\r\n0\r\n\r\n") },
      { name: "bare CR in the size line", data: chunkedPost("5\rhello\r\n0\r\n\r\n") },
      { name: "bare LF in a chunk extension", data: chunkedPost("5;a=b\nhello\r\n0\r\n\r\n") },
      { name: "NUL in a chunk extension", data: chunkedPost("5;a=\0\r\nhello\r\n0\r\n\r\n") },
      { name: "bare LF ending the last chunk", data: chunkedPost("5\r\nhello\r\n0\n\r\n") },
      { name: "trailer with obs-fold", data: chunkedPost("5\r\nhello\r\n0\r\nX-T: a\r\n b\r\n\r\n") },
      { name: "trailer with a space before the colon", data: chunkedPost("5\r\nhello\r\n0\r\nX-T : a\r\n\r\n") },
      { name: "trailer ending with a bare LF", data: chunkedPost("5\r\nhello\r\n0\r\nX-T: a\n\r\n") },
    ]);
  });
});

test("a chunk size line longer than the limit is refused", async () => {
  // An endless chunk extension: the proxy must stop reading it (limited by http.maxHeadBytes).
  await withProxy(
    async (proxy, backend) => {
      const r = await rawRequest(proxy.port, chunkedPost(`5;ext=${"a".repeat(4000)}\r\nhello\r\n0\r\n\r\n`), { waitMs: 5000 });
      assert.is(statusOf(r.text), 400);
      assert.ok(r.closed);
      assert.is(backend.received.length, 0);
      await expectBackendReachable(proxy, backend);
    },
    {},
    { http: { maxHeadBytes: 1024 } },
  );
});

test("invalid chunked framing after the head went upstream: 400, closed, the backend never gets a complete request", async () => {
  await withProxy(async (proxy, backend) => {
    const cases: [string, string][] = [
      ["non-hex size", "zz\r\n"],
      ["missing CRLF after data", "3\r\nabcX"],
      ["bare LF in size line", "3\nabc\r\n"],
    ];
    for (const [name, bad] of cases) {
      const conn = await openRaw(proxy.port);
      const before = backend.connections();
      conn.write("POST /late HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
      // The head and the first chunk are forwarded before the rest of the body is in.
      assert.ok(await waitFor(() => backend.connections() > before), `${name}: the request went upstream`);
      conn.write(bad + "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.ok(await conn.waitClosed(), `${name}: closed`);
      assert.is(statusOf(conn.text), 400, `${name}: got ${JSON.stringify(conn.text.slice(0, 60))}`);
      conn.destroy();
    }
    // The backend's connections were cut, so the partial requests never completed.
    assert.is(backend.received.length, 0, JSON.stringify(backend.received.map((x) => x.url)));
    await expectBackendReachable(proxy, backend);
    // Bodies stream at once here, so that the head goes upstream before the body is all in.
  }, {}, { http: { bufferBodyBytes: 0 } });
});

test("a body that fails after the backend began answering: both connections are cut, and no answer of the proxy's own is appended to the partial response", async () => {
  for (const failure of ["broken chunk", "body stops"] as const) {
    let backendClosed = false;
    // Answers as soon as the head arrives, with half of its body, and then waits.
    const raw = await startRawServer((socket) => {
      socket.once("data", () => socket.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"));
      socket.on("close", () => (backendClosed = true));
    });
    const proxy = await startProxy(
      [{ address: "127.0.0.1", port: raw.port } as TestBackend],
      { upstream: { responseTimeoutMs: 300 } },
      // Bodies stream at once, so that the head goes upstream before the body is all in.
      { http: { bufferBodyBytes: 0, bodyTimeoutMs: 300 } },
    );
    const conn = await openRaw(proxy.port);
    try {
      conn.write("POST /early HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
      assert.ok(await conn.waitFor((t) => t.endsWith("\r\n\r\nhello")), `${failure}: ${JSON.stringify(conn.text)}`);
      if (failure === "broken chunk") conn.write("zz\r\n");
      assert.ok(await conn.waitClosed(), `${failure}: the client's connection was cut`);
      assert.ok(conn.text.startsWith("HTTP/1.1 200 OK\r\n") && conn.text.endsWith("\r\n\r\nhello"), `${failure}: only the partial response: ${JSON.stringify(conn.text)}`);
      assert.is(conn.text.split("HTTP/1.1 ").length - 1, 1, `${failure}: ${JSON.stringify(conn.text)}`);
      assert.ok(await waitFor(() => backendClosed), `${failure}: the backend's connection was cut`);
    } finally {
      conn.destroy();
      await proxy.stop();
      await raw.close();
    }
  }
});

// ---- header field syntax ------------------------------------------------------------------------

test("header field syntax errors: 400, closed, nothing upstream", async () => {
  await withProxy(async (proxy, backend) => {
    await expectAllRefused(proxy, backend, [
      { name: "obs-fold with a space", data: "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n" },
      { name: "obs-fold with a tab", data: "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n" },
      { name: "first header line starts with a space", data: "GET / HTTP/1.1\r\n Host: x\r\n\r\n" },
      { name: "whitespace before the colon ('Host : x')", data: "GET / HTTP/1.1\r\nHost : x\r\n\r\n" },
      { name: "tab before the colon", data: "GET / HTTP/1.1\r\nHost: x\r\nX-A\t: a\r\n\r\n" },
      { name: "bare CR inside a header value", data: "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n" },
      { name: "bare CR inside the Host value", data: "GET / HTTP/1.1\r\nHost: x\ry\r\n\r\n" },
      { name: "bare LF ending a header line", data: "GET / HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n" },
      { name: "NUL in a header value", data: "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n" },
      { name: "DEL in a header value", data: "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n" },
      { name: "other control byte in a header value", data: "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n" },
      { name: "header name with a non-token byte", data: "GET / HTTP/1.1\r\nHost: x\r\nX(A): b\r\n\r\n" },
      { name: "header line without a colon", data: "GET / HTTP/1.1\r\nHost: x\r\nX-A b\r\n\r\n" },
      { name: "empty header name", data: "GET / HTTP/1.1\r\nHost: x\r\n: b\r\n\r\n" },
      { name: "missing Host in HTTP/1.1", data: "GET / HTTP/1.1\r\nX-A: b\r\n\r\n" },
      { name: "two Host headers", data: "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n" },
      { name: "two identical Host headers", data: "GET / HTTP/1.1\r\nHost: x\r\nHost: x\r\n\r\n" },
      { name: "two Host headers in HTTP/1.0", data: "GET / HTTP/1.0\r\nHost: x\r\nHost: y\r\n\r\n" },
      { name: "Connection option that is not a token", data: "GET / HTTP/1.1\r\nHost: x\r\nConnection: a b\r\n\r\n" },
    ]);
  });
});

// ---- request line -------------------------------------------------------------------------------

test("request line errors: 400 / 505 / 501, closed, nothing upstream", async () => {
  await withProxy(async (proxy, backend) => {
    await expectAllRefused(proxy, backend, [
      { name: "invalid method character 'GE(T'", data: "GE(T / HTTP/1.1\r\nHost: x\r\n\r\n" },
      { name: "method with a slash", data: "GE/T / HTTP/1.1\r\nHost: x\r\n\r\n" },
      { name: "empty method", data: " / HTTP/1.1\r\nHost: x\r\n\r\n" },
      { name: "NUL in the target", data: "GET /a\0b HTTP/1.1\r\nHost: x\r\n\r\n" },
      { name: "target containing a space", data: "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n" },
      { name: "target with a tab", data: "GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n" },
      { name: "target with raw non-ASCII", data: "GET /\xe9 HTTP/1.1\r\nHost: x\r\n\r\n" },
      { name: "target not starting with '/'", data: "GET a HTTP/1.1\r\nHost: x\r\n\r\n" },
      { name: "asterisk target for GET", data: "GET * HTTP/1.1\r\nHost: x\r\n\r\n" },
      // This listener has no routes: a fragment is refused whatever the listener does with paths.
      { name: "target with a fragment", data: "GET /a#frag HTTP/1.1\r\nHost: x\r\n\r\n" },
      { name: "target that is only a fragment after the path", data: "GET /# HTTP/1.1\r\nHost: x\r\n\r\n" },
      { name: "absolute-form target with a fragment", data: "GET http://example.test/a#frag HTTP/1.1\r\nHost: x\r\n\r\n" },
      { name: "two spaces after the method", data: "GET  / HTTP/1.1\r\nHost: x\r\n\r\n" },
      { name: "two spaces before the version", data: "GET /  HTTP/1.1\r\nHost: x\r\n\r\n" },
      { name: "version HTTP/1.2", data: "GET / HTTP/1.2\r\nHost: x\r\n\r\n", status: 505 },
      { name: "version HTTP/2.0", data: "GET / HTTP/2.0\r\nHost: x\r\n\r\n", status: 505 },
      { name: "version HTTP/x.1", data: "GET / HTTP/x.1\r\nHost: x\r\n\r\n" },
      { name: "version 'HTTP/1.1 ' (trailing space)", data: "GET / HTTP/1.1 \r\nHost: x\r\n\r\n" },
      { name: "lower-case 'http/1.1'", data: "GET / http/1.1\r\nHost: x\r\n\r\n" },
      { name: "version 'HTTP/1.10'", data: "GET / HTTP/1.10\r\nHost: x\r\n\r\n" },
      { name: "version 'HTTP/1'", data: "GET / HTTP/1\r\nHost: x\r\n\r\n" },
      { name: "no version (HTTP/0.9 style)", data: "GET /\r\nHost: x\r\n\r\n" },
      { name: "bare LF ending the request line", data: "GET / HTTP/1.1\nHost: x\r\n\r\n" },
      { name: "CONNECT", data: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", status: 501 },
    ]);
  });
});

// ---- size and time limits -----------------------------------------------------------------------

test("over-long request line: 414; over-large head or too many fields: 431 (small http limits)", async () => {
  await withProxy(
    async (proxy, backend) => {
      const bigHeaders = Array.from({ length: 20 }, (_, i) => `X-Big-${i}: ${"v".repeat(80)}\r\n`).join("");
      await expectAllRefused(proxy, backend, [
        { name: "long request line, complete head", data: `GET /${"a".repeat(400)} HTTP/1.1\r\nHost: x\r\n\r\n`, status: 414 },
        // The line is not even finished: the proxy must not wait for its end.
        { name: "long request line, no CRLF yet", data: `GET /${"a".repeat(400)}`, status: 414 },
        { name: "large head, complete", data: `GET / HTTP/1.1\r\nHost: x\r\n${bigHeaders}\r\n`, status: 431 },
        { name: "large head, still incomplete", data: `GET / HTTP/1.1\r\nHost: x\r\n${bigHeaders}`, status: 431 },
      ]);
    },
    {},
    { http: { maxRequestLineBytes: 256, maxHeadBytes: 1024 } },
  );
});

test("more header fields than http.maxHeaderCount: 431", async () => {
  await withProxy(
    async (proxy, backend) => {
      const manyHeaders = Array.from({ length: 30 }, (_, i) => `X-${i}: v\r\n`).join("");
      await expectAllRefused(proxy, backend, [
        { name: "30 fields with maxHeaderCount 10", data: `GET / HTTP/1.1\r\nHost: x\r\n${manyHeaders}\r\n`, status: 431 },
      ]);
    },
    {},
    { http: { maxHeaderCount: 10 } },
  );
});

test("a head that does not complete in time: 408, closed; a slowloris trickle does not extend the deadline", async () => {
  await withProxy(
    async (proxy, backend) => {
      // Part of a head, then silence.
      await expectRefused(proxy, backend, { name: "partial head", data: "GET /slow HTTP/1.1\r\nHost: x\r\n", status: 408 });

      // A client that keeps sending a byte or a line every 100 ms, never finishing its head: the
      // deadline counts from the head's start, so the trickle must be cut off while it is still going.
      const conn = await openRaw(proxy.port);
      const pieces = ["GET /loris HTTP/1.1\r\n", "Host: x\r\n", ...Array.from({ length: 100 }, (_, i) => `X-${i}: ${i}\r\n`)];
      let sent = 0;
      for (const piece of pieces) {
        if (conn.closed) break;
        conn.write(piece);
        sent++;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(await conn.waitClosed(5000), "the proxy closed the slowloris connection");
      assert.ok(sent < pieces.length, `the trickle was cut off while still going (sent ${sent} of ${pieces.length})`);
      assert.is(statusOf(conn.text), 408, JSON.stringify(conn.text.slice(0, 60)));
      conn.destroy();

      // Byte by byte, too.
      const bytes = "GET /bytes HTTP/1.1\r\nHost: x\r\nX-Long: " + "y".repeat(200);
      const r = await rawRequest(proxy.port, [...bytes], { gapMs: 20, waitMs: 8000 });
      assert.is(statusOf(r.text), 408);
      assert.ok(r.closed);

      assert.is(backend.received.length, 0);
      assert.is(backend.connections(), 0);
      await expectBackendReachable(proxy, backend);
    },
    {},
    { http: { headTimeoutMs: 300 } },
  );
});

// ---- accepted on purpose, and what smuggling would look like ---------------------------------------

test("an identical repeated Content-Length is accepted; the backend sees the body once", async () => {
  await withProxy(async (proxy, backend) => {
    const r = await rawRequest(
      proxy.port,
      "POST /dup HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello" +
        "GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      { waitMs: 5000 },
    );
    const responses = parseResponses(r.text);
    assert.is(responses.length, 2, r.text);
    assert.is(responses[0].status, 200);
    assert.is(responses[0].body, "b POST /dup 5");
    assert.is(responses[1].body, "b GET /after 0");
    assert.is(backend.received.length, 2);
    assert.is(backend.received[0].body, "hello");
    const lengths = backend.received[0].rawHeaders.filter((_, i, a) => i % 2 === 0 && a[i].toLowerCase() === "content-length");
    assert.is(lengths.length, 1, `Content-Length forwarded once: ${JSON.stringify(backend.received[0].rawHeaders)}`);
    assert.is(backend.received[1].url, "/after");
  });
});

test("a request hidden in a body that parsers would frame differently never reaches the backend", async () => {
  await withProxy(async (proxy, backend) => {
    const smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    const vectors: Vector[] = [
      // CL.TE: a CL-reader forwards all of it as one body; a TE-reader sees a second request.
      { name: "CL.TE", data: post(`Content-Length: ${5 + smuggled.length}\r\nTransfer-Encoding: chunked\r\n`, "0\r\n\r\n" + smuggled) },
      // TE.CL: a TE-reader forwards the chunk; a CL-reader sees the chunk's content as a request.
      {
        name: "TE.CL",
        data: post(
          "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
          `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`,
        ),
      },
      // TE.TE with an obfuscated second TE that one parser ignores.
      {
        name: "TE.TE obfuscated",
        data: post("Transfer-Encoding: chunked\r\nTransfer-Encoding: cow\r\nContent-Length: 4\r\n", `5c\r\n${smuggled}\r\n0\r\n\r\n`),
      },
      { name: "TE with space before colon + CL", data: post(`Transfer-Encoding : chunked\r\nContent-Length: ${5 + smuggled.length}\r\n`, "0\r\n\r\n" + smuggled) },
      { name: "duplicate differing CL", data: post("Content-Length: 0\r\nContent-Length: " + smuggled.length + "\r\n", smuggled) },
      { name: "CL in an obs-folded line", data: post("X-A: a\r\n Content-Length: 0\r\nContent-Length: " + smuggled.length + "\r\n", smuggled) },
      { name: "chunked in HTTP/1.0", data: `POST /p HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: ${5 + smuggled.length}\r\n\r\n0\r\n\r\n${smuggled}` },
      { name: "bare-LF chunk terminator", data: post("Transfer-Encoding: chunked\r\n", `0\n\r\n${smuggled}`) },
      { name: "bare-LF head terminator", data: `GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: ${smuggled.length}\n\r\n${smuggled}` },
    ];
    for (const v of vectors) {
      await expectRefused(proxy, backend, v);
      assert.not.ok(backend.received.some((x) => x.url === "/smuggled"), `${v.name}: the smuggled request reached the backend`);
    }
    assert.is(backend.connections(), 0);

    // A well-framed body that merely looks like a request is the POST's body, not a request.
    const r = await rawRequest(proxy.port, post(`Content-Length: ${smuggled.length}\r\nConnection: close\r\n`, smuggled), { waitMs: 5000 });
    assert.is(statusOf(r.text), 200);
    assert.is(backend.received.length, 1);
    assert.is(backend.received[0].method, "POST");
    assert.is(backend.received[0].body, smuggled);
    // And a chunked body whose chunk holds a request.
    const c = await rawRequest(
      proxy.port,
      post("Transfer-Encoding: chunked\r\nConnection: close\r\n", `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`),
      { waitMs: 5000 },
    );
    assert.is(statusOf(c.text), 200);
    assert.is(backend.received.length, 2);
    assert.is(backend.received[1].body, smuggled);
    assert.not.ok(backend.received.some((x) => x.url === "/smuggled"));
  });
});

test("a refused request ends the connection: requests pipelined behind it are not served", async () => {
  await withProxy(async (proxy, backend) => {
    const r = await rawRequest(
      proxy.port,
      "GET /bad HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\nGET /behind HTTP/1.1\r\nHost: x\r\n\r\n",
      { waitMs: 5000 },
    );
    assert.is(statusOf(r.text), 400);
    assert.ok(r.closed);
    assert.is(parseResponses(r.text).length, 1);
    assert.is(backend.received.length, 0);
    // A good request followed by a bad one: the first is served, the second refused.
    const g = await rawRequest(
      proxy.port,
      "GET /good HTTP/1.1\r\nHost: x\r\n\r\nGET /bad HTTP/1.1\r\nHost : x\r\n\r\n",
      { waitMs: 5000 },
    );
    const responses = parseResponses(g.text);
    assert.equal(responses.map((x) => x.status), [200, 400]);
    assert.ok(g.closed);
    assert.equal(backend.received.map((x) => x.url), ["/good"]);
  });
});

// ---- Connection may not unframe a request ----------------------------------------------------------

test("a Connection header naming Content-Length, Transfer-Encoding or Host does not strip them: the body stays a body", async () => {
  await withProxy(async (proxy, backend) => {
    const smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n";
    const cases: [string, string][] = [
      ["Content-Length", post(`Content-Length: ${smuggled.length}\r\nConnection: content-length\r\n`, smuggled)],
      ["Content-Length, among other options", post(`Content-Length: ${smuggled.length}\r\nConnection: keep-alive, Content-Length, x-y\r\n`, smuggled)],
      ["Transfer-Encoding", post("Transfer-Encoding: chunked\r\nConnection: transfer-encoding\r\n", `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`)],
      ["Host", "GET /h HTTP/1.1\r\nHost: x\r\nConnection: host\r\n\r\n"],
    ];
    for (const [name, attack] of cases) {
      const before = backend.received.length;
      // The attack, then on another client connection an innocent request, which must get its own
      // answer over the same pooled upstream connection.
      const a = await rawRequest(proxy.port, attack, { waitMs: 5000, until: (t) => parseResponses(t).length === 1 });
      assert.is(statusOf(a.text), 200, `${name}: ${JSON.stringify(a.text.slice(0, 80))}`);
      const v = await rawRequest(proxy.port, "GET /victim HTTP/1.1\r\nHost: x\r\n\r\n", { waitMs: 5000, until: (t) => parseResponses(t).length === 1 });
      assert.is(parseResponses(v.text)[0]?.body, "b GET /victim 0", `${name}: the victim got its own response`);
      const seen = backend.received.slice(before);
      assert.equal(seen.map((x) => x.url), [attack.split(" ")[1], "/victim"], `${name}: ${JSON.stringify(seen.map((x) => x.url))}`);
      if (name !== "Host") assert.is(seen[0].body, smuggled, `${name}: the body arrived as the body`);
      assert.is(seen[0].headers.host, "x", `${name}: Host kept`);
    }
    assert.not.ok(backend.received.some((x) => x.url === "/smuggled"));
  });
});

test("a Connection header naming Via, Forwarded or X-Forwarded-* does not strip them: the proxy's own statements still reach the backend", async () => {
  await withProxy(async (proxy, backend) => {
    for (const option of ["via", "forwarded", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "Via, X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, Forwarded"]) {
      const r = await rawRequest(
        proxy.port,
        `GET /named HTTP/1.1\r\nHost: named.test\r\nVia: 1.1 earlier-proxy\r\nForwarded: for=192.0.2.1\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: ${option}, close\r\n\r\n`,
        { waitMs: 5000 },
      );
      assert.is(statusOf(r.text), 200, `${option}: ${JSON.stringify(r.text.slice(0, 80))}`);
      const got = backend.received.at(-1)!;
      assert.match(String(got.headers.via), /^1\.1 earlier-proxy, 1\.1 farmhand-[0-9a-f]+$/, `${option}: Via`);
      assert.is(got.headers.forwarded, "for=192.0.2.1", `${option}: Forwarded`);
      // An untrusted client's X-Forwarded-For is replaced, never stripped.
      assert.is(got.headers["x-forwarded-for"], "127.0.0.1", `${option}: X-Forwarded-For`);
      assert.is(got.headers["x-forwarded-proto"], "http", `${option}: X-Forwarded-Proto`);
      assert.is(got.headers["x-forwarded-host"], "named.test", `${option}: X-Forwarded-Host`);
    }
  });
});

test("a backend's Connection header naming Content-Length or Transfer-Encoding does not strip them from the client's response", async () => {
  for (const [option, framing, body] of [
    ["content-length", "Content-Length: 5", "hello"],
    ["transfer-encoding", "Transfer-Encoding: chunked", "5\r\nhello\r\n0\r\n\r\n"],
  ] as const) {
    // A raw backend, so its framing field and its Connection option are exactly these.
    const raw = await startRawServer((socket) => {
      socket.once("data", () => socket.write(`HTTP/1.1 200 OK\r\nConnection: ${option}\r\n${framing}\r\n\r\n${body}`));
    });
    const proxy = await startProxy([{ address: "127.0.0.1", port: raw.port } as TestBackend]);
    const conn = await openRaw(proxy.port);
    try {
      conn.write("GET /one HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.ok(await conn.waitFor((t) => t.includes("hello")), `${option}: ${JSON.stringify(conn.text)}`);
      const head = conn.text.slice(0, conn.text.indexOf("\r\n\r\n")).toLowerCase();
      assert.ok(head.includes(framing.toLowerCase()), `${option}: the client's head keeps the framing field: ${JSON.stringify(head)}`);
    } finally {
      conn.destroy();
      await proxy.stop();
      await raw.close();
    }
  }
});

// ---- strict chunk lines, Transfer-Encoding lists and trailers ----------------------------------------

test("lax chunk lines, empty Transfer-Encoding elements and framing fields in trailers: 400, closed, nothing upstream", async () => {
  await withProxy(async (proxy, backend) => {
    await expectAllRefused(proxy, backend, [
      { name: "chunk size followed by a space", data: chunkedPost("5 \r\nhello\r\n0\r\n\r\n") },
      { name: "chunk size followed by a tab", data: chunkedPost("5\t\r\nhello\r\n0\r\n\r\n") },
      { name: "chunk size followed by junk", data: chunkedPost("5x\r\nhello\r\n0\r\n\r\n") },
      { name: "space before the extension", data: chunkedPost("5 ;a=b\r\nhello\r\n0\r\n\r\n") },
      { name: "extension without a name", data: chunkedPost("5;\r\nhello\r\n0\r\n\r\n") },
      { name: "extension '=v' without a name", data: chunkedPost("5;=v\r\nhello\r\n0\r\n\r\n") },
      { name: "extension with trailing whitespace", data: chunkedPost("5;a=b \r\nhello\r\n0\r\n\r\n") },
      { name: "extension with a space around '='", data: chunkedPost("5;a = b\r\nhello\r\n0\r\n\r\n") },
      { name: "extension value empty", data: chunkedPost("5;a=\r\nhello\r\n0\r\n\r\n") },
      { name: "extension with an unterminated quoted value", data: chunkedPost('5;a="b\r\nhello\r\n0\r\n\r\n') },
      { name: "extension with junk after a quoted value", data: chunkedPost('5;a="b"c\r\nhello\r\n0\r\n\r\n') },
      { name: "last-chunk extension with whitespace", data: chunkedPost("5\r\nhello\r\n0 \r\n\r\n") },
      { name: "empty Transfer-Encoding", data: post("Transfer-Encoding: \r\n", "") },
      { name: "empty Transfer-Encoding beside Content-Length", data: post("Transfer-Encoding:\r\nContent-Length: 5\r\n", "hello") },
      { name: "comma-only Transfer-Encoding beside Content-Length", data: post("Transfer-Encoding: ,\r\nContent-Length: 5\r\n", "hello") },
      { name: "Transfer-Encoding 'chunked,'", data: post("Transfer-Encoding: chunked,\r\n", "0\r\n\r\n") },
      { name: "Transfer-Encoding ', chunked'", data: post("Transfer-Encoding: , chunked\r\n", "0\r\n\r\n") },
      { name: "Transfer-Encoding 'gzip,,chunked'", data: post("Transfer-Encoding: gzip,,chunked\r\n", "0\r\n\r\n") },
      { name: "empty Transfer-Encoding line beside a chunked one", data: post("Transfer-Encoding: chunked\r\nTransfer-Encoding: \r\n", "0\r\n\r\n") },
      { name: "Content-Length in a trailer", data: chunkedPost("5\r\nhello\r\n0\r\nContent-Length: 50\r\n\r\n") },
      { name: "Transfer-Encoding in a trailer", data: chunkedPost("5\r\nhello\r\n0\r\ntransfer-encoding: chunked\r\n\r\n") },
      { name: "Host in a trailer", data: chunkedPost("5\r\nhello\r\n0\r\nHOST: evil\r\n\r\n") },
      { name: "X-Forwarded-For in a trailer", data: chunkedPost("5\r\nhello\r\n0\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n") },
      { name: "Connection in a trailer", data: chunkedPost("5\r\nhello\r\n0\r\nConnection: close\r\n\r\n") },
    ]);
  });
});

/** Every field a trailer may not carry (see the README's list of refused requests). */
const FORBIDDEN_TRAILERS = [
  "Content-Length", "Transfer-Encoding", "Host", "Connection", "Keep-Alive", "Proxy-Connection", "TE",
  "Trailer", "Upgrade", "Expect", "Via", "Forwarded", "X-Forwarded-For", "X-Forwarded-Host",
  "X-Forwarded-Proto", "Content-Encoding", "Content-Type", "Content-Range", "Authorization",
  "Proxy-Authorization", "Cookie", "Set-Cookie",
];

test("every forbidden trailer name, in any case, with or without a value: 400, closed, nothing upstream", async () => {
  await withProxy(async (proxy, backend) => {
    const vectors: Vector[] = FORBIDDEN_TRAILERS.flatMap((name) => [
      { name: `${name} in a trailer`, data: chunkedPost(`5\r\nhello\r\n0\r\n${name}: v\r\n\r\n`) },
      { name: `${name.toLowerCase()} in a trailer, after an ordinary one`, data: chunkedPost(`5\r\nhello\r\n0\r\nX-Ok: 1\r\n${name.toLowerCase()}: v\r\n\r\n`) },
      { name: `${name.toUpperCase()} in a trailer, empty`, data: chunkedPost(`5\r\nhello\r\n0\r\n${name.toUpperCase()}:\r\n\r\n`) },
    ]);
    await expectAllRefused(proxy, backend, vectors);
    // Names that merely start or end like a forbidden one are ordinary fields.
    for (const name of ["Content-Length-X", "X-Host", "Hosts", "Cookies", "X-Forwarded-For-Real"]) {
      const r = await rawRequest(proxy.port, chunkedPost(`5\r\nhello\r\n0\r\n${name}: v\r\n\r\n`).replace("Host: x\r\n", "Host: x\r\nConnection: close\r\n"), { waitMs: 5000 });
      assert.is(statusOf(r.text), 200, `${name}: ${JSON.stringify(r.text.slice(0, 80))}`);
      assert.is(backend.received.at(-1)?.trailers[name.toLowerCase()], "v", name);
    }
  });
});

test("well-formed chunk extensions and ordinary trailers still pass, byte for byte", async () => {
  await withProxy(async (proxy, backend) => {
    const bodies = [
      "5;a\r\nhello\r\n0\r\n\r\n",
      "5;a=b;c=d\r\nhello\r\n0;last\r\n\r\n",
      '5;name="quoted value; with \\"escapes\\""\r\nhello\r\n0\r\n\r\n',
      "5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Content-Length-Like: 1\r\n\r\n",
    ];
    for (const body of bodies) {
      const r = await rawRequest(proxy.port, chunkedPost(body).replace("Host: x\r\n", "Host: x\r\nConnection: close\r\n"), { waitMs: 5000 });
      assert.is(statusOf(r.text), 200, `${JSON.stringify(body)}: ${JSON.stringify(r.text.slice(0, 80))}`);
      assert.is(backend.received.at(-1)?.body, "hello", JSON.stringify(body));
    }
    assert.is(backend.received.at(-1)?.trailers["x-checksum"], "abc");
  });
});

test("framing fields go upstream in one plain form: whitespace and repeats are not passed on", async () => {
  await withProxy(async (proxy, backend) => {
    const framingOf = (rawHeaders: readonly string[]) =>
      rawHeaders.flatMap((v, i, a) => (i % 2 === 1 && /^(content-length|transfer-encoding)$/i.test(a[i - 1]) ? [`${a[i - 1]}: ${v}`] : []));
    for (const [headers, body, expected] of [
      ["Transfer-Encoding: chunked\t\r\n", "5\r\nhello\r\n0\r\n\r\n", ["Transfer-Encoding: chunked"]],
      ["Transfer-Encoding:  CHUNKED \r\n", "5\r\nhello\r\n0\r\n\r\n", ["Transfer-Encoding: chunked"]],
      ["Content-Length: 5\t\r\n", "hello", ["Content-Length: 5"]],
      ["Content-Length: 5\r\ncontent-length:  5\r\n", "hello", ["Content-Length: 5"]],
    ] as const) {
      const r = await rawRequest(proxy.port, post(`${headers}Connection: close\r\n`, body), { waitMs: 5000 });
      assert.is(statusOf(r.text), 200, JSON.stringify(headers));
      assert.equal(framingOf(backend.received.at(-1)!.rawHeaders), expected, JSON.stringify(headers));
      assert.is(backend.received.at(-1)!.body, "hello");
    }
  });
});

test.run();
