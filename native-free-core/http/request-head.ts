// Parses and checks one request head, and writes the head the proxy sends upstream.
//
// The checks are those of a careful intermediary (RFC 9112 sections 2-7, RFC 9110 section 7.6): any
// request whose framing two parsers could read differently is refused before a byte of it goes
// upstream. The rewrite drops hop-by-hop fields and sets X-Forwarded-*, keeping every other field in
// its order and case. Body bytes are never part of this: they are forwarded as they arrived.

import {
  AUTHORITY,
  COLON,
  CR,
  FIELD_VALUE,
  HEX_VALUE,
  HTAB,
  LF,
  SP,
  TARGET,
  TCHAR,
  copyBytes,
  equalsLower,
  findLF,
  isToken,
} from "./syntax.ts";

/** How the request's body is delimited. */
export const BODY_NONE = 0;
export const BODY_LENGTH = 1;
export const BODY_CHUNKED = 2;
export type BodyKind = typeof BODY_NONE | typeof BODY_LENGTH | typeof BODY_CHUNKED;

// What each header line is, decided in the first pass and acted on in the second.
const KEEP = 0;
const DROP = 1;
const UPGRADE_FIELD = 2;
const FORWARDED_FOR = 3;
/** Kept like KEEP, but its place in the upstream head is noted (see upstreamWithoutExpect). */
const EXPECT_FIELD = 4;

/** Per-connection facts the rewrite needs; built once per client connection. */
export interface ForwardingContext {
  /** "X-Forwarded-For: <client>\r\nX-Forwarded-Proto: http\r\n" for an untrusted peer. */
  readonly forwardedSuffix: Buffer;
  readonly clientAddress: string;
  /** The peer is a trusted proxy: extend its X-Forwarded-For and keep its -Proto/-Host. */
  readonly trusted: boolean;
}

export interface HeadLimits {
  readonly maxHeaderCount: number;
  /** This balancer's mark in Via (WorkerInit.instanceId): a request already carrying it has looped. */
  readonly instanceId: string;
}

const FORWARDED_HOST = Buffer.from("X-Forwarded-Host: ", "latin1");
const FORWARDED_PROTO = Buffer.from("X-Forwarded-Proto: http\r\n", "latin1");
const CONNECTION_UPGRADE = Buffer.from("Connection: upgrade\r\n", "latin1");
const CRLF = Buffer.from("\r\n", "latin1");
const HOST_PREFIX = Buffer.from("Host: ", "latin1");
const TRANSFER_ENCODING_CHUNKED = "Transfer-Encoding: chunked\r\n";

/**
 * Fields a Connection header may not make hop-by-hop: those that frame or route the request, and
 * those the proxy itself writes. Dropping a framing field after framing the request with it would let
 * the body reach the backend as the next request (smuggling); the rest would let a client strip the
 * proxy's own statements.
 */
const NEVER_HOP_BY_HOP = new Set([
  "content-length", "transfer-encoding", "host", "via", "forwarded",
  "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
]);
const IDEMPOTENT = new Set(["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"]);

/**
 * The parsed request. One instance lives per client connection and is overwritten by each request,
 * so parsing allocates only the strings and the upstream head it must.
 */
export class RequestHead {
  method = "";
  /** HTTP/1.x minor version. */
  minor = 1;
  isHead = false;
  idempotent = false;
  /** The client wants the connection kept open after this exchange. */
  keepAlive = true;
  bodyKind: BodyKind = BODY_NONE;
  contentLength = 0;
  /** An Upgrade (e.g. WebSocket) was requested with Connection: upgrade. */
  upgrade = false;
  /** The client waits for a 100 Continue before it sends its body. */
  expectContinue = false;
  /** [start, end) pairs of the Expect lines in `upstream`. */
  readonly #expectRanges: number[] = [];
  /** The value of the pool's hash header, when asked for and present. */
  hashValue: string | undefined = undefined;
  /** The head to send upstream. */
  upstream: Buffer = CRLF;
  /** When parsing failed: the status to answer with (400, 417, 431, 501, 505). */
  status = 0;
  /** Where the request target lies in the parsed buffer (for an absolute-form target: its path). */
  targetStart = 0;
  targetEnd = 0;
  /**
   * For an absolute-form target ("GET http://host/path"), the origin-form target sent upstream and
   * routed on ("/path"); null for the usual origin form, which is read from targetStart/targetEnd.
   */
  originTarget: string | null = null;
  /** Where the first Content-Type value lies (-1: none); the first, as Node's own parser keeps it. */
  contentTypeStart = -1;
  contentTypeEnd = -1;

  // Line table of the first pass: [start, colon, valueStart, valueEnd, next] per header line.
  readonly #lines: Int32Array;
  readonly #kinds: Uint8Array;
  readonly #limits: HeadLimits;
  /** "farmhand-<instanceId>", searched for in Via values; and the Via lines this proxy adds (per minor version). */
  readonly #viaMark: Buffer;
  readonly #viaLines: readonly [Buffer, Buffer];

  constructor(limits: HeadLimits) {
    this.#limits = limits;
    this.#viaMark = Buffer.from(`farmhand-${limits.instanceId}`, "latin1");
    this.#viaLines = [0, 1].map((minor) => Buffer.from(`Via: 1.${minor} farmhand-${limits.instanceId}\r\n`, "latin1")) as [Buffer, Buffer];
    this.#lines = new Int32Array(limits.maxHeaderCount * 5);
    this.#kinds = new Uint8Array(limits.maxHeaderCount);
  }

  /**
   * Parses buf[start, end) where end is just past the blank line. Returns false, with `status` set,
   * when the request must be refused. `hashHeader` is the lower-case name of the header the pool
   * hashes on, or "" for none.
   */
  parse(buf: Buffer, start: number, end: number, ctx: ForwardingContext, hashHeader: string): boolean {
    this.status = 0;
    this.hashValue = undefined;
    this.upgrade = false;
    this.bodyKind = BODY_NONE;
    this.contentLength = 0;
    this.expectContinue = false;
    this.#expectRanges.length = 0;
    this.originTarget = null;
    this.contentTypeStart = -1;

    // Request line: method SP target SP HTTP/1.x CRLF, single spaces, nothing else.
    const lineEnd = findLF(buf, start, end);
    if (lineEnd < 0 || lineEnd >= end || buf[lineEnd - 1] !== CR) return this.#fail(400);
    let i = start;
    while (i < lineEnd && TCHAR[buf[i]] === 1) i++;
    if (i === start || buf[i] !== SP) return this.#fail(400);
    const method = methodOf(buf, start, i);
    const methodEnd = i;
    const targetStart = ++i;
    while (i < lineEnd && TARGET[buf[i]] === 1) i++;
    if (i === targetStart || buf[i] !== SP) return this.#fail(400);
    const targetEnd = i++;
    if (lineEnd - 1 - i !== 8 || !isHttpVersionPrefix(buf, i)) return this.#fail(400);
    const major = buf[i + 5];
    const minor = buf[i + 7];
    if (major < 0x30 || major > 0x39 || minor < 0x30 || minor > 0x39) return this.#fail(400);
    if (major !== 0x31 || minor > 0x31) return this.#fail(505);
    this.minor = minor - 0x30;
    if (method === "CONNECT") return this.#fail(501);
    // Absolute form: its authority replaces Host, and the backend gets the origin form, so that no
    // two readers can take the request for different hosts or paths.
    let authorityStart = -1;
    let authorityEnd = -1;
    const first = buf[targetStart];
    if (first !== 0x2f /* / */) {
      const asterisk = first === 0x2a && targetEnd - targetStart === 1 && method === "OPTIONS";
      if (!asterisk) {
        const schemeEnd = absoluteHttpSchemeEnd(buf, targetStart, targetEnd);
        if (schemeEnd < 0) return this.#fail(400);
        authorityStart = schemeEnd;
        authorityEnd = schemeEnd;
        while (authorityEnd < targetEnd && AUTHORITY[buf[authorityEnd]] === 1) authorityEnd++;
        // Userinfo ("user@host") or any byte an authority cannot hold ends it early; and what it
        // holds must be one host (name, IPv4, or bracketed IPv6) with at most a numeric port.
        if ((authorityEnd < targetEnd && buf[authorityEnd] !== 0x2f && buf[authorityEnd] !== 0x3f) ||
          !isHostAndPort(buf, authorityStart, authorityEnd)) {
          return this.#fail(400);
        }
        const rest = buf.toString("latin1", authorityEnd, targetEnd);
        this.originTarget = rest === "" ? (method === "OPTIONS" ? "*" : "/") : rest.charCodeAt(0) === 0x3f ? `/${rest}` : rest;
      }
    }
    this.method = method;
    this.targetStart = authorityStart < 0 ? targetStart : authorityEnd;
    this.targetEnd = targetEnd;
    this.isHead = method === "HEAD";
    this.idempotent = IDEMPOTENT.has(method);

    // First pass: split and check every field line, note what the rewrite must know.
    const lines = this.#lines;
    const kinds = this.#kinds;
    const max = this.#limits.maxHeaderCount;
    const headEnd = end - 2; // the final CRLF
    let count = 0;
    let hostStart = -1;
    let hostEnd = -1;
    let hosts = 0;
    let lengthSeen = false;
    let chunked = false;
    let transferEncodings = 0;
    let transferEncodingLines = 0;
    let connectionClose = false;
    let connectionKeepAlive = false;
    let connectionUpgrade = false;
    let connectionNamed: string[] | null = null;
    let upgradeField = false;
    let trustedForwardedFor = "";
    let forwardedProtoKept = false;
    let forwardedHostKept = false;

    let pos = lineEnd + 1;
    while (pos < headEnd) {
      const c0 = buf[pos];
      if (c0 === SP || c0 === HTAB) return this.#fail(400); // obs-fold
      let colon = pos;
      while (TCHAR[buf[colon]] === 1) colon++;
      // Anything but a colon right after the name, whitespace included, is refused.
      if (colon === pos || buf[colon] !== COLON) return this.#fail(400);
      // One pass over the value finds the line's end and checks every byte: it stops at the first
      // byte a value cannot hold, which must be the CR of the line's CRLF (a bare CR or LF is refused).
      let vs = colon + 1;
      let ve = vs;
      while (FIELD_VALUE[buf[ve]] === 1) ve++;
      if (ve >= headEnd || buf[ve] !== CR || buf[ve + 1] !== LF) return this.#fail(400);
      const next = ve + 1;
      while (vs < ve && (buf[vs] === SP || buf[vs] === HTAB)) vs++;
      while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HTAB)) ve--;
      if (count === max) return this.#fail(431);
      const o = count * 5;
      lines[o] = pos;
      lines[o + 1] = colon;
      lines[o + 2] = vs;
      lines[o + 3] = ve;
      lines[o + 4] = next + 1;
      let kind = KEEP;
      const nameLength = colon - pos;
      switch (nameLength) {
        case 2:
          if (equalsLower(buf, pos, 2, "te")) kind = DROP;
          break;
        case 3:
          // A request that already passed through this balancer is in a loop (a backend that is
          // the balancer's own listener, or a chain of balancers that leads back to it).
          if (equalsLower(buf, pos, 3, "via") && ve - vs >= this.#viaMark.length) {
            const at = buf.indexOf(this.#viaMark, vs);
            if (at >= 0 && at + this.#viaMark.length <= ve) return this.#fail(508);
          }
          break;
        case 4:
          if (equalsLower(buf, pos, 4, "host")) {
            hosts++;
            hostStart = vs;
            hostEnd = ve;
            // With an absolute-form target the authority is the host; this line is replaced by it.
            if (authorityStart >= 0) kind = DROP;
          }
          break;
        case 7:
          if (equalsLower(buf, pos, 7, "upgrade")) {
            kind = UPGRADE_FIELD;
            upgradeField = true;
          }
          break;
        case 6:
          if (equalsLower(buf, pos, 6, "expect")) {
            if (!equalsLower(buf, vs, ve - vs, "100-continue")) return this.#fail(417);
            this.expectContinue = true;
            kind = EXPECT_FIELD;
          }
          break;
        case 10:
          if (equalsLower(buf, pos, 10, "connection")) {
            kind = DROP;
            // Connection options: a short comma list, usually one word.
            let s = vs;
            while (s < ve) {
              let e = s;
              while (e < ve && buf[e] !== 0x2c) e++;
              let te = e;
              while (te > s && (buf[te - 1] === SP || buf[te - 1] === HTAB)) te--;
              let ts = s;
              while (ts < te && (buf[ts] === SP || buf[ts] === HTAB)) ts++;
              if (te > ts) {
                if (!isToken(buf, ts, te)) return this.#fail(400);
                if (equalsLower(buf, ts, te - ts, "close")) connectionClose = true;
                else if (equalsLower(buf, ts, te - ts, "keep-alive")) connectionKeepAlive = true;
                else if (equalsLower(buf, ts, te - ts, "upgrade")) connectionUpgrade = true;
                else {
                  const named = buf.toString("latin1", ts, te).toLowerCase();
                  if (!NEVER_HOP_BY_HOP.has(named)) (connectionNamed ??= []).push(named);
                }
              }
              s = e + 1;
            }
          } else if (equalsLower(buf, pos, 10, "keep-alive")) kind = DROP;
          break;
        case 12:
          if (this.contentTypeStart < 0 && equalsLower(buf, pos, 12, "content-type")) {
            this.contentTypeStart = vs;
            this.contentTypeEnd = ve;
          }
          break;
        case 14:
          if (equalsLower(buf, pos, 14, "content-length")) {
            const value = parseContentLength(buf, vs, ve);
            if (value < 0) return this.#fail(400);
            if (lengthSeen && value !== this.contentLength) return this.#fail(400);
            // Sent once, in its plain form (see FRAMING below), whatever whitespace or repeats it came with.
            kind = DROP;
            lengthSeen = true;
            this.contentLength = value;
          }
          break;
        case 15:
          if (equalsLower(buf, pos, 15, "x-forwarded-for")) {
            kind = ctx.trusted ? FORWARDED_FOR : DROP;
            if (ctx.trusted) {
              const value = buf.toString("latin1", vs, ve);
              trustedForwardedFor = trustedForwardedFor === "" ? value : `${trustedForwardedFor}, ${value}`;
            }
          }
          break;
        case 16:
          if (equalsLower(buf, pos, 16, "proxy-connection")) kind = DROP;
          else if (equalsLower(buf, pos, 16, "x-forwarded-host")) {
            if (ctx.trusted) forwardedHostKept = true;
            else kind = DROP;
          }
          break;
        case 17:
          if (equalsLower(buf, pos, 17, "transfer-encoding")) {
            kind = DROP; // sent as "Transfer-Encoding: chunked", see FRAMING below
            // Codings across all TE lines, in order; only a final "chunked" frames a request. Every
            // element must be a coding: an empty one ("", ",", "chunked,") is read differently by
            // different parsers, so it is refused rather than guessed at.
            transferEncodingLines++;
            let s = vs;
            for (;;) {
              let e = s;
              while (e < ve && buf[e] !== 0x2c) e++;
              let te = e;
              while (te > s && (buf[te - 1] === SP || buf[te - 1] === HTAB)) te--;
              let ts = s;
              while (ts < te && (buf[ts] === SP || buf[ts] === HTAB)) ts++;
              if (te === ts) return this.#fail(400);
              if (chunked) return this.#fail(400); // something after "chunked"
              if (equalsLower(buf, ts, te - ts, "chunked")) chunked = true;
              else if (!isToken(buf, ts, te)) return this.#fail(400);
              transferEncodings++;
              if (e >= ve) break;
              s = e + 1;
            }
          } else if (equalsLower(buf, pos, 17, "x-forwarded-proto")) {
            if (ctx.trusted) forwardedProtoKept = true;
            else kind = DROP;
          }
          break;
      }
      if (hashHeader !== "" && nameLength === hashHeader.length && equalsLower(buf, pos, nameLength, hashHeader)) {
        this.hashValue = buf.toString("latin1", vs, ve);
      }
      kinds[count] = kind;
      count++;
      pos = next + 1;
    }

    // Framing (RFC 9112 section 6): exactly one way to find the body's end, or none. A coding other
    // than chunked (gzip, chunked) is well formed but no backend here is known to decode it.
    if (transferEncodingLines > 0) {
      if (!chunked || lengthSeen || this.minor === 0) return this.#fail(400);
      if (transferEncodings > 1) return this.#fail(501);
      this.bodyKind = BODY_CHUNKED;
    } else if (lengthSeen && this.contentLength > 0) {
      this.bodyKind = BODY_LENGTH;
    }
    if (this.minor === 1 ? hosts !== 1 : hosts > 1) return this.#fail(400);
    if (authorityStart >= 0) {
      hostStart = authorityStart;
      hostEnd = authorityEnd;
    }
    this.keepAlive = this.minor === 1 ? !connectionClose : connectionKeepAlive && !connectionClose;
    this.upgrade = upgradeField && connectionUpgrade;

    // Second pass: the upstream head.
    const named = connectionNamed;
    const origin = this.originTarget;
    let size = origin === null
      ? lineEnd + 1 - start + 2
      : methodEnd - start + 1 + origin.length + 11 + HOST_PREFIX.length + (authorityEnd - authorityStart) + 2 + 2;
    for (let h = 0; h < count; h++) {
      const o = h * 5;
      let kind = kinds[h];
      if (kind === UPGRADE_FIELD && !this.upgrade) kind = kinds[h] = DROP;
      if ((kind === KEEP || kind === EXPECT_FIELD) && named !== null && isNamed(buf, lines[o], lines[o + 1], named)) kind = kinds[h] = DROP;
      if (kind === KEEP || kind === UPGRADE_FIELD || kind === EXPECT_FIELD) size += lines[o + 4] - lines[o];
    }
    if (this.upgrade) size += CONNECTION_UPGRADE.length;
    // FRAMING: the framing field goes upstream in one plain form that no parser can read otherwise
    // ("Transfer-Encoding: chunked\t" is chunked to one reader and an unknown coding to another).
    const framing = this.bodyKind === BODY_CHUNKED ? TRANSFER_ENCODING_CHUNKED
      : lengthSeen ? `Content-Length: ${this.contentLength}\r\n` : "";
    size += framing.length;
    let forwardedFor: Buffer | null = null;
    if (ctx.trusted) {
      const value = trustedForwardedFor === "" ? ctx.clientAddress : `${trustedForwardedFor}, ${ctx.clientAddress}`;
      forwardedFor = Buffer.from(`X-Forwarded-For: ${value}\r\n`, "latin1");
      size += forwardedFor.length;
      if (!forwardedProtoKept) size += FORWARDED_PROTO.length;
    } else {
      size += ctx.forwardedSuffix.length;
    }
    const addHost = hostStart >= 0 && !forwardedHostKept;
    if (addHost) size += FORWARDED_HOST.length + (hostEnd - hostStart) + 2;
    const via = this.#viaLines[this.minor];
    size += via.length;

    const out = Buffer.allocUnsafe(size);
    let w: number;
    if (origin === null) {
      w = copyBytes(buf, out, 0, start, lineEnd + 1);
    } else {
      w = copyBytes(buf, out, 0, start, methodEnd + 1);
      w += out.write(origin, w, "latin1");
      w += out.write(this.minor === 1 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n", w, "latin1");
      w += copyBytes(HOST_PREFIX, out, w, 0, HOST_PREFIX.length);
      w += copyBytes(buf, out, w, authorityStart, authorityEnd);
      out[w++] = CR;
      out[w++] = LF;
    }
    for (let h = 0; h < count; h++) {
      const kind = kinds[h];
      if (kind === KEEP || kind === UPGRADE_FIELD || kind === EXPECT_FIELD) {
        const o = h * 5;
        if (kind === EXPECT_FIELD) this.#expectRanges.push(w, w + lines[o + 4] - lines[o]);
        w += copyBytes(buf, out, w, lines[o], lines[o + 4]);
      }
    }
    if (this.upgrade) w += copyBytes(CONNECTION_UPGRADE, out, w, 0, CONNECTION_UPGRADE.length);
    // A loop, not Buffer#write: the line is short and ASCII, and the call into C++ would cost more.
    for (let i = 0; i < framing.length; i++) out[w++] = framing.charCodeAt(i);
    if (forwardedFor !== null) {
      w += copyBytes(forwardedFor, out, w, 0, forwardedFor.length);
      if (!forwardedProtoKept) w += copyBytes(FORWARDED_PROTO, out, w, 0, FORWARDED_PROTO.length);
    } else {
      w += copyBytes(ctx.forwardedSuffix, out, w, 0, ctx.forwardedSuffix.length);
    }
    if (addHost) {
      w += copyBytes(FORWARDED_HOST, out, w, 0, FORWARDED_HOST.length);
      w += copyBytes(buf, out, w, hostStart, hostEnd);
      out[w++] = CR;
      out[w++] = LF;
    }
    w += copyBytes(via, out, w, 0, via.length);
    out[w++] = CR;
    out[w++] = LF;
    this.upstream = w === size ? out : out.subarray(0, w);
    return true;
  }

  /**
   * The upstream head without its Expect lines, for a request whose expectation the proxy met itself
   * (it answered 100 Continue and read the body): the backend gets the body with the head, and has
   * nothing to wait for or answer. Valid until the next parse.
   */
  upstreamWithoutExpect(): Buffer {
    const ranges = this.#expectRanges;
    const upstream = this.upstream;
    if (ranges.length === 0) return upstream;
    let size = upstream.length;
    for (let r = 0; r < ranges.length; r += 2) size -= ranges[r + 1] - ranges[r];
    const out = Buffer.allocUnsafe(size);
    let w = 0;
    let from = 0;
    for (let r = 0; r < ranges.length; r += 2) {
      w += copyBytes(upstream, out, w, from, ranges[r]);
      from = ranges[r + 1];
    }
    copyBytes(upstream, out, w, from, upstream.length);
    return out;
  }

  #fail(status: number): false {
    this.status = status;
    return false;
  }
}

/** Builds the per-connection X-Forwarded-* suffix for a client the proxy does not trust. */
export function forwardingContext(clientAddress: string, trusted: boolean): ForwardingContext {
  return {
    clientAddress,
    trusted,
    forwardedSuffix: Buffer.from(`X-Forwarded-For: ${clientAddress}\r\nX-Forwarded-Proto: http\r\n`, "latin1"),
  };
}

/** 1*DIGIT, at most 15 digits so the value stays an exact integer; -1 when malformed. */
function parseContentLength(buf: Buffer, start: number, end: number): number {
  if (end <= start || end - start > 15) return -1;
  let value = 0;
  for (let i = start; i < end; i++) {
    const d = buf[i] - 0x30;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value;
}

function isHttpVersionPrefix(buf: Buffer, i: number): boolean {
  return buf[i] === 0x48 && buf[i + 1] === 0x54 && buf[i + 2] === 0x54 && buf[i + 3] === 0x50 &&
    buf[i + 4] === 0x2f && buf[i + 6] === 0x2e;
}

/** host [":" port]: a bracketed IPv6 literal or a name/IPv4 without brackets or colons, and 1-5 digits. */
function isHostAndPort(buf: Buffer, start: number, end: number): boolean {
  let hostEnd: number;
  if (buf[start] === 0x5b /* [ */) {
    const close = buf.indexOf(0x5d /* ] */, start);
    if (close < 0 || close >= end || close === start + 1) return false;
    for (let i = start + 1; i < close; i++) {
      const b = buf[i];
      if (HEX_VALUE[b] < 0 && b !== COLON && b !== 0x2e /* . */) return false;
    }
    hostEnd = close + 1;
  } else {
    hostEnd = start;
    while (hostEnd < end && buf[hostEnd] !== COLON) {
      const b = buf[hostEnd];
      if (b === 0x5b || b === 0x5d) return false;
      hostEnd++;
    }
    if (hostEnd === start) return false;
  }
  if (hostEnd === end) return true;
  if (buf[hostEnd] !== COLON || end - hostEnd - 1 < 1 || end - hostEnd - 1 > 5) return false;
  for (let i = hostEnd + 1; i < end; i++) if (buf[i] < 0x30 || buf[i] > 0x39) return false;
  return true;
}

/** Where the authority of an "http://" or "https://" target starts, or -1 for any other target. */
function absoluteHttpSchemeEnd(buf: Buffer, start: number, end: number): number {
  if (end - start >= 7 && equalsLower(buf, start, 7, "http://")) return start + 7;
  if (end - start >= 8 && equalsLower(buf, start, 8, "https://")) return start + 8;
  return -1;
}

function isNamed(buf: Buffer, start: number, end: number, named: readonly string[]): boolean {
  for (const name of named) if (equalsLower(buf, start, end - start, name)) return true;
  return false;
}

/** The method as a string; the common ones without making one (it is compared, hashed and kept per request). */
function methodOf(buf: Buffer, start: number, end: number): string {
  const n = end - start;
  const c = buf[start];
  if (n === 3 && c === 0x47 && buf[start + 1] === 0x45 && buf[start + 2] === 0x54) return "GET";
  if (n === 4 && c === 0x50 && buf[start + 1] === 0x4f && buf[start + 2] === 0x53 && buf[start + 3] === 0x54) return "POST";
  if (n === 4 && c === 0x48 && buf[start + 1] === 0x45 && buf[start + 2] === 0x41 && buf[start + 3] === 0x44) return "HEAD";
  return buf.toString("latin1", start, end);
}
