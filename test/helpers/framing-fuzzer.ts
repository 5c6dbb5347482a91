// A differential fuzzer for request framing: it makes valid requests, mutates them, and sends each
// followed by a canary request on one client connection through the proxy to a backend that parses
// strictly (Node's HTTP server). The proxy frames the bytes one way; the backend reads what the proxy
// forwarded its own way. They must agree: every request the backend parsed is answered to the client
// that sent it, in order, exactly once, and the canary is never read as part of, or instead of,
// another request. Anything else is a desync, the root of request smuggling.
//
// Attribution is exact without any cooperation from the mutated bytes: each case connects from its
// own loopback source address, and the proxy writes that address into X-Forwarded-For, replacing
// whatever the client sent. A request that reaches the backend without a case's address was made up
// from bytes the proxy took for a body: smuggled.

import http from "node:http";
import net from "node:net";

// ---- seeded randomness ------------------------------------------------------------------------------

export class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0 || 1;
  }
  /** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

// ---- valid requests ---------------------------------------------------------------------------------

const METHODS = ["GET", "GET", "POST", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"];
const TARGETS = ["/", "/a/b", "/a/b?x=1&y=%20", "/api/orders/17", "/.well-known/x", "http://example.test/abs", "http://example.test:8080/abs?q"];
const EXTRA_FIELDS = [
  "Accept: */*", "User-Agent: fuzz/1", "X-A: 1", "Cookie: a=b; c=d", "Accept-Encoding: gzip", "Connection: keep-alive",
  "Cache-Control: no-cache", "X-Empty:", "X-Spaces:   padded   ", "Trailer: X-Sum", "Content-Type: application/json",
];
const BODY_BYTES = "abcdefghij0123456789 \r\n;:,GET / HTTP/1.1\r\n{}\"\\";

/** A request every careful parser accepts, and what it is made of (for targeted mutations). */
export interface BaseRequest {
  readonly bytes: Buffer;
  readonly method: string;
}

export function validRequest(rng: Rng): BaseRequest {
  const method = rng.pick(METHODS);
  const target = method === "OPTIONS" && rng.chance(0.3) ? "*" : rng.pick(TARGETS);
  const lines = [`${method} ${target} HTTP/1.1`, `Host: ${rng.pick(["x", "example.test", "127.0.0.1:80"])}`];
  for (let i = rng.int(3); i > 0; i--) lines.push(rng.pick(EXTRA_FIELDS));
  let body = "";
  const withBody = method !== "GET" && method !== "HEAD" && method !== "OPTIONS" ? rng.int(3) : rng.chance(0.1) ? 1 : 0;
  if (withBody === 1) {
    const content = randomText(rng, rng.int(40));
    lines.push(`Content-Length: ${Buffer.byteLength(content, "latin1")}`);
    body = content;
  } else if (withBody === 2) {
    lines.push("Transfer-Encoding: chunked");
    for (let i = 1 + rng.int(3); i > 0; i--) {
      const content = randomText(rng, 1 + rng.int(20));
      const ext = rng.chance(0.3) ? rng.pick([";a", ";a=b", ';q="x y"', ";a=1;b=2"]) : "";
      body += `${content.length.toString(16)}${ext}\r\n${content}\r\n`;
    }
    body += `0\r\n${rng.chance(0.3) ? "X-Sum: 42\r\n" : ""}\r\n`;
  }
  return { bytes: Buffer.from(`${lines.join("\r\n")}\r\n\r\n${body}`, "latin1"), method };
}

function randomText(rng: Rng, n: number): string {
  let s = "";
  for (let i = 0; i < n; i++) s += BODY_BYTES[rng.int(BODY_BYTES.length)];
  return s;
}

// ---- mutations --------------------------------------------------------------------------------------

const INTERESTING = [
  "\r", "\n", "\r\n", " ", "\t", ":", ",", ";", "=", "\0", "\x7f", "\x80", "\xff", "0", "1", "f", "-", "+", '"', "\\",
  "chunked", "identity", "%2e%2e/", "../", "@", "#", "\r\n\r\n", "\r\n ", "\r\nContent-Length: 5", "\r\nTransfer-Encoding: chunked",
  "\r\nConnection: content-length", "\r\nConnection: transfer-encoding", "\r\nHost: y", "\r\nExpect: 100-continue",
  "\r\nTransfer-Encoding: ,", "\r\nTransfer-Encoding:", "\r\nContent-Length: 0", "HTTP/1.0", "HTTP/1.1\r\n",
];

/** One to four random edits; a fifth of the cases stay valid, which keeps the checks honest. */
export function mutate(rng: Rng, base: Buffer): { bytes: Buffer; mutated: boolean } {
  if (rng.chance(0.2)) return { bytes: base, mutated: false };
  let b = base;
  for (let n = 1 + rng.int(4); n > 0; n--) {
    const at = rng.int(b.length + 1);
    switch (rng.int(7)) {
      case 0: { // replace one byte
        if (b.length === 0) break;
        const copy = Buffer.from(b);
        copy[Math.min(at, b.length - 1)] = rng.pick(INTERESTING).charCodeAt(0);
        b = copy;
        break;
      }
      case 1: // insert something
        b = Buffer.concat([b.subarray(0, at), Buffer.from(rng.pick(INTERESTING), "latin1"), b.subarray(at)]);
        break;
      case 2: // delete a few bytes
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + rng.int(4)))]);
        break;
      case 3: { // duplicate a line
        const text = b.toString("latin1");
        const lines = text.split("\r\n");
        const i = rng.int(lines.length);
        lines.splice(i, 0, lines[i]);
        b = Buffer.from(lines.join("\r\n"), "latin1");
        break;
      }
      case 4: { // nudge a number (a Content-Length, a chunk size)
        const text = b.toString("latin1");
        const numbers = [...text.matchAll(/[0-9a-f]+/gi)];
        if (numbers.length === 0) break;
        const m = rng.pick(numbers);
        const replacement = rng.pick(["0", "1", "ff", "10", String(Number.parseInt(m[0], 16) + 1), "99999999999999999999", `${m[0]}0`]);
        b = Buffer.from(text.slice(0, m.index) + replacement + text.slice(m.index! + m[0].length), "latin1");
        break;
      }
      case 5: { // flip the case of a header name
        const text = b.toString("latin1");
        const i = text.indexOf(":", rng.int(text.length));
        if (i < 0) break;
        const lineStart = text.lastIndexOf("\n", i) + 1;
        const name = text.slice(lineStart, i);
        const flipped = [...name].map((c) => (rng.chance(0.5) ? c.toUpperCase() : c.toLowerCase())).join("");
        b = Buffer.from(text.slice(0, lineStart) + flipped + text.slice(i), "latin1");
        break;
      }
      case 6: // truncate
        b = b.subarray(0, at);
        break;
    }
  }
  return { bytes: b, mutated: true };
}

// ---- the strict backend -----------------------------------------------------------------------------

export interface ParsedRequest {
  readonly id: number;
  /** The X-Forwarded-For the proxy wrote: the case's source address. */
  readonly from: string;
  readonly method: string;
  readonly url: string;
  readonly bodyLength: number;
}

export interface StrictBackend {
  readonly port: number;
  /** Complete requests the backend parsed, keyed by source address; and those with no known source. */
  readonly byCase: Map<string, ParsedRequest[]>;
  /** Parse errors on bytes the proxy forwarded: each is a disagreement between proxy and backend. */
  readonly parseErrors: string[];
  close(): Promise<void>;
}

export async function startStrictBackend(): Promise<StrictBackend> {
  let nextId = 1;
  const byCase = new Map<string, ParsedRequest[]>();
  const parseErrors: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer({ insecureHTTPParser: false, requireHostHeader: true, keepAliveTimeout: 30_000 }, (req, res) => {
    let bodyLength = 0;
    req.on("data", (chunk: Buffer) => (bodyLength += chunk.length));
    req.on("end", () => {
      const forwarded = req.headers["x-forwarded-for"];
      const from = typeof forwarded === "string" ? forwarded : "(none)";
      const parsed: ParsedRequest = { id: nextId++, from, method: req.method ?? "", url: req.url ?? "", bodyLength };
      let list = byCase.get(from);
      if (list === undefined) byCase.set(from, (list = []));
      list.push(parsed);
      const body = `parsed ${parsed.id}`;
      res.writeHead(200, { "x-parsed": String(parsed.id), "x-parsed-url": encodeURIComponent(parsed.url), "content-length": Buffer.byteLength(body) });
      res.end(req.method === "HEAD" ? undefined : body);
    });
  });
  server.on("connection", (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("clientError", (error: Error & { code?: string; rawPacket?: Buffer }, socket: net.Socket) => {
    // A connection the proxy cut mid-request is no disagreement; bytes the backend cannot parse are.
    // Except a method: any token is one, and this backend knows only the registered ones. It answers
    // 400 and closes, which desyncs nothing.
    if (error.code !== "ECONNRESET" && error.code !== "HPE_INVALID_EOF_STATE" && error.code !== "HPE_INVALID_METHOD") {
      parseErrors.push(`${error.code ?? "?"} ${error.message}: ${JSON.stringify(error.rawPacket?.toString("latin1").slice(0, 300) ?? "")}`);
    }
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    byCase,
    parseErrors,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---- one case ---------------------------------------------------------------------------------------

export interface ClientResponse {
  readonly status: number;
  /** The backend's id for the request it answered, and that request's target; null when the proxy answered itself. */
  readonly parsed: number | null;
  readonly url: string | null;
}

export interface CaseOutcome {
  readonly source: string;
  readonly request: Buffer;
  readonly mutated: boolean;
  readonly canaryPath: string;
  readonly responses: readonly ClientResponse[];
  /** How the exchange ended: the proxy closed, the canary was answered, or the line fell quiet. */
  readonly ending: "closed" | "canary" | "quiet" | "hung";
  /** Bytes the client got that are not a well-formed response. */
  readonly garbage: string | null;
}

/** The source address of case n: 127.1.0.1 upwards, one per case. */
export function caseSource(n: number): string {
  const k = n + 1;
  return `127.${1 + ((k >> 16) & 0x7f)}.${(k >> 8) & 0xff}.${k & 0xff}`;
}

/**
 * Sends the request and then the canary on one connection from `source`, split at random points,
 * and reads what comes back. `quietMs`: silence after at least one response that ends the case;
 * `hangMs`: silence before any response that counts as a hang.
 */
export async function runCase(
  rng: Rng,
  port: number,
  source: string,
  request: { bytes: Buffer; mutated: boolean },
  canaryPath: string,
  timing: { quietMs: number; hangMs: number },
): Promise<CaseOutcome> {
  const canary = Buffer.from(`GET ${canaryPath} HTTP/1.1\r\nHost: canary\r\n\r\n`, "latin1");
  const all = Buffer.concat([request.bytes, canary]);
  const socket = net.connect({ host: "127.0.0.1", port, localAddress: source });
  socket.on("error", () => {});
  // What the proxy will take for the method: the first token after any empty lines.
  const reader = new ResponseReader(/^(?:\r\n)*([^ \r\n]*)/.exec(request.bytes.toString("latin1"))![1]);
  let closed = false;
  let lastByteAt = Date.now();
  socket.on("data", (d: Buffer) => {
    reader.push(d);
    lastByteAt = Date.now();
  });
  socket.on("close", () => (closed = true));
  await new Promise<void>((resolve) => {
    socket.once("connect", resolve);
    socket.once("close", resolve);
  });
  // Up to three pieces, each written in its own turn, so heads and bodies arrive split.
  const cuts = [rng.int(all.length + 1), rng.int(all.length + 1)].sort((a, b) => a - b);
  let from = 0;
  for (const cut of [...cuts, all.length]) {
    if (cut > from && !socket.destroyed) socket.write(all.subarray(from, cut));
    from = Math.max(from, cut);
    await new Promise((r) => setImmediate(r));
  }
  let ending: CaseOutcome["ending"];
  for (;;) {
    await new Promise((r) => setTimeout(r, 10));
    if (closed) {
      ending = "closed";
      break;
    }
    if (reader.sawCanary(canaryPath)) {
      ending = "canary";
      break;
    }
    const silence = Date.now() - lastByteAt;
    if (reader.responses.length > 0 && silence >= timing.quietMs) {
      ending = "quiet";
      break;
    }
    if (silence >= timing.hangMs) {
      ending = "hung";
      break;
    }
  }
  socket.destroy();
  return { source, request: request.bytes, mutated: request.mutated, canaryPath, responses: reader.responses, ending, garbage: reader.garbage };
}

/**
 * Splits the client's byte stream into responses. The first answers the case's own request (whose
 * method decides whether a body follows); the rest are GETs.
 */
class ResponseReader {
  readonly responses: ClientResponse[] = [];
  garbage: string | null = null;
  readonly #firstMethod: string;
  #buf = Buffer.alloc(0);

  constructor(firstMethod: string) {
    this.#firstMethod = firstMethod;
  }

  sawCanary(path: string): boolean {
    return this.responses.some((r) => r.url === path);
  }

  push(data: Buffer): void {
    if (this.garbage !== null) return;
    this.#buf = Buffer.concat([this.#buf, data]);
    for (;;) {
      const end = this.#buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = this.#buf.toString("latin1", 0, end);
      const m = /^HTTP\/1\.[01] (\d{3})[^\r\n]*/.exec(head);
      if (m === null) {
        this.garbage = JSON.stringify(this.#buf.toString("latin1").slice(0, 200));
        return;
      }
      const status = Number(m[1]);
      const fields = new Map<string, string>();
      for (const line of head.split("\r\n").slice(1)) {
        const colon = line.indexOf(":");
        fields.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
      let rest = this.#buf.subarray(end + 4);
      if (status < 200) {
        this.#buf = rest;
        continue;
      }
      const bodiless = (this.responses.length === 0 && this.#firstMethod === "HEAD") || status === 204 || status === 304;
      let bodyLength = 0;
      if (!bodiless) {
        const cl = fields.get("content-length");
        if (cl === undefined) {
          if (fields.get("transfer-encoding") !== undefined) {
            this.garbage = "a chunked response (the backend sends none)";
            return;
          }
          // Close-delimited: wait for the close (the reader is not told; it is rare here).
          return;
        }
        bodyLength = Number(cl);
        if (rest.length < bodyLength) return;
      }
      rest = rest.subarray(bodyLength);
      const parsedField = fields.get("x-parsed");
      const url = fields.get("x-parsed-url");
      this.responses.push({
        status,
        parsed: parsedField === undefined ? null : Number(parsedField),
        url: url === undefined ? null : decodeURIComponent(url),
      });
      this.#buf = rest;
    }
  }
}

// ---- the oracle -------------------------------------------------------------------------------------

/**
 * What must hold for one case, given what the backend parsed from its source address. Returns the
 * problems found (empty: the proxy and the backend agreed).
 */
export function judge(outcome: CaseOutcome, parsed: readonly ParsedRequest[]): string[] {
  const problems: string[] = [];
  const ids = new Map(parsed.map((p) => [p.id, p]));
  const answered = outcome.responses.filter((r) => r.parsed !== null).map((r) => r.parsed!);
  if (outcome.garbage !== null) problems.push(`the client got bytes that are no response: ${outcome.garbage}`);
  if (outcome.ending === "hung") problems.push("no answer and no close: the connection hung");
  // One to one: every request the backend completed is answered to this client, once.
  for (const p of parsed) {
    const times = answered.filter((id) => id === p.id).length;
    if (times !== 1) problems.push(`the backend parsed ${p.method} ${p.url} (#${p.id}) but the client got its answer ${times} times`);
  }
  for (const id of answered) {
    if (!ids.has(id)) problems.push(`the client got the answer to request #${id}, which is not one of its own`);
  }
  // The canary is the last request: answered last, or not at all (the proxy closed, or took its
  // bytes for a body), and never read by the backend as anything but itself.
  const canaries = parsed.filter((p) => p.url === outcome.canaryPath);
  if (canaries.length > 1) problems.push("the canary was parsed twice");
  const canaryIndex = outcome.responses.findIndex((r) => r.parsed !== null && ids.get(r.parsed)?.url === outcome.canaryPath);
  if (canaryIndex >= 0 && canaryIndex !== outcome.responses.length - 1) problems.push("a response came after the canary's");
  for (const p of parsed) {
    if (p.url !== outcome.canaryPath && p.url.includes("canary")) problems.push(`the backend parsed part of the canary as ${p.method} ${p.url}`);
  }
  // A valid request and its canary both reach the backend and are answered from it.
  if (!outcome.mutated && (outcome.responses.length !== 2 || answered.length !== 2 || canaries.length !== 1)) {
    problems.push(`a valid request was not served with its canary (responses ${JSON.stringify(outcome.responses)}, ending ${outcome.ending})`);
  }
  return problems;
}
