// Parses one response head from a backend and writes the head the client gets. A malformed response
// (the proxy answers 502 instead) is anything whose framing is not certain. The client's head is the
// backend's own bytes unless hop-by-hop fields must go or the proxy must say how the connection ends.

import { COLON, CR, FIELD_VALUE, HTAB, LF, SP, TCHAR, equalsLower, findLF } from "./syntax.ts";

export const RESPONSE_BODY_NONE = 0;
export const RESPONSE_BODY_LENGTH = 1;
export const RESPONSE_BODY_CHUNKED = 2;
/** The body runs until the backend closes the connection. */
export const RESPONSE_BODY_CLOSE = 3;
export type ResponseBodyKind = 0 | 1 | 2 | 3;

const CONNECTION_CLOSE = Buffer.from("Connection: close\r\n\r\n", "latin1");
const CONNECTION_KEEP_ALIVE = Buffer.from("Connection: keep-alive\r\n\r\n", "latin1");
const CONNECTION_UPGRADE = Buffer.from("Connection: upgrade\r\n\r\n", "latin1");

export class ResponseHead {
  status = 0;
  minor = 1;
  bodyKind: ResponseBodyKind = RESPONSE_BODY_NONE;
  contentLength = 0;
  /** The backend allows reusing the connection after this response. */
  reusable = true;

  // Byte ranges of fields the client must not see, as [start, end) pairs.
  readonly #drops: number[] = [];
  /** The only hop-by-hop field is "Connection: keep-alive", which the proxy may pass on as its own option. */
  #onlyKeepAlive = false;
  readonly #maxHeaderCount: number;

  constructor(maxHeaderCount: number) {
    this.#maxHeaderCount = maxHeaderCount;
  }

  /** Parses buf[start, end), end just past the blank line. False: malformed. */
  parse(buf: Buffer, start: number, end: number, requestWasHead: boolean): boolean {
    const drops = this.#drops;
    drops.length = 0;
    let connectionFields = 0;
    let onlyKeepAliveOption = true;
    let named: string[] | null = null;
    const lineEnd = findLF(buf, start, end);
    if (lineEnd < 0 || lineEnd >= end || buf[lineEnd - 1] !== CR) return false;
    // HTTP/1.x SP 3DIGIT [SP reason]
    if (lineEnd - start < 13 || buf[start] !== 0x48 || buf[start + 4] !== 0x2f || buf[start + 5] !== 0x31 ||
      buf[start + 6] !== 0x2e || buf[start + 8] !== SP) return false;
    const minor = buf[start + 7] - 0x30;
    if (minor !== 0 && minor !== 1) return false;
    let status = 0;
    for (let i = start + 9; i < start + 12; i++) {
      const d = buf[i] - 0x30;
      if (d < 0 || d > 9) return false;
      status = status * 10 + d;
    }
    if (status < 100 || (buf[start + 12] !== SP && buf[start + 12] !== CR)) return false;
    this.status = status;
    this.minor = minor;

    let lengthSeen = false;
    let length = 0;
    let transferEncoding = false;
    let chunkedLast = false;
    let close = false;
    let keepAlive = false;
    let count = 0;
    const headEnd = end - 2;
    let pos = lineEnd + 1;
    while (pos < headEnd) {
      if (++count > this.#maxHeaderCount) return false;
      let colon = pos;
      while (TCHAR[buf[colon]] === 1) colon++;
      if (colon === pos || buf[colon] !== COLON) return false;
      // One pass over the value to the CR of its line's CRLF, checking each byte (as in request-head.ts).
      let vs = colon + 1;
      let ve = vs;
      while (FIELD_VALUE[buf[ve]] === 1) ve++;
      if (ve >= headEnd || buf[ve] !== CR || buf[ve + 1] !== LF) return false;
      const next = ve + 1;
      while (vs < ve && (buf[vs] === SP || buf[vs] === HTAB)) vs++;
      while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HTAB)) ve--;
      const n = colon - pos;
      if (n === 10 && equalsLower(buf, pos, 10, "connection")) {
        drops.push(pos, next + 1);
        connectionFields++;
        // Nearly every backend says just "keep-alive" or "close": those name no other field, and are
        // read without making a string.
        if (equalsLower(buf, vs, ve - vs, "keep-alive")) {
          keepAlive = true;
        } else {
          onlyKeepAliveOption = false;
          if (equalsLower(buf, vs, ve - vs, "close")) {
            close = true;
          } else {
            if (containsToken(buf, vs, ve, "close")) close = true;
            if (containsToken(buf, vs, ve, "keep-alive")) keepAlive = true;
            named = namedOptions(buf, vs, ve, named);
          }
        }
      } else if ((n === 10 && equalsLower(buf, pos, 10, "keep-alive")) ||
        (n === 16 && equalsLower(buf, pos, 16, "proxy-connection"))) {
        drops.push(pos, next + 1);
      } else if (n === 14 && equalsLower(buf, pos, 14, "content-length")) {
        let value = 0;
        if (ve === vs || ve - vs > 15) return false;
        for (let j = vs; j < ve; j++) {
          const d = buf[j] - 0x30;
          if (d < 0 || d > 9) return false;
          value = value * 10 + d;
        }
        if (lengthSeen && value !== length) return false;
        lengthSeen = true;
        length = value;
      } else if (n === 17 && equalsLower(buf, pos, 17, "transfer-encoding")) {
        transferEncoding = true;
        // The last coding decides; anything after "chunked" is unframed. An empty element
        // ("chunked,") leaves the client to guess: malformed.
        let s = vs;
        for (;;) {
          let e = s;
          while (e < ve && buf[e] !== 0x2c) e++;
          let ts = s;
          let te = e;
          while (ts < te && (buf[ts] === SP || buf[ts] === HTAB)) ts++;
          while (te > ts && (buf[te - 1] === SP || buf[te - 1] === HTAB)) te--;
          if (te === ts) return false;
          for (let j = ts; j < te; j++) if (TCHAR[buf[j]] === 0) return false;
          chunkedLast = equalsLower(buf, ts, te - ts, "chunked");
          if (e >= ve) break;
          s = e + 1;
        }
      }
      pos = next + 1;
    }
    if (transferEncoding && lengthSeen) return false;
    if (named !== null) dropNamed(buf, lineEnd + 1, headEnd, named, drops);
    this.#onlyKeepAlive = connectionFields === 1 && onlyKeepAliveOption && drops.length === 2;

    if (requestWasHead || status < 200 || status === 204 || status === 304) {
      this.bodyKind = RESPONSE_BODY_NONE;
    } else if (transferEncoding) {
      this.bodyKind = chunkedLast ? RESPONSE_BODY_CHUNKED : RESPONSE_BODY_CLOSE;
    } else if (lengthSeen) {
      this.bodyKind = length > 0 ? RESPONSE_BODY_LENGTH : RESPONSE_BODY_NONE;
    } else {
      this.bodyKind = RESPONSE_BODY_CLOSE;
    }
    this.contentLength = length;
    this.reusable = this.bodyKind !== RESPONSE_BODY_CLOSE && (minor === 1 ? !close : keepAlive && !close);
    return true;
  }

  /**
   * The client may get the backend's head bytes as they are (then the caller sends them with the body
   * that follows, no Buffer made for the head alone).
   */
  keepsHead(connection: "" | "close" | "keep-alive" | "upgrade"): boolean {
    if (this.#drops.length === 0 && connection === "") return true;
    // RFC 9110 section 7.6.1 lets an intermediary replace Connection with its own options: when the
    // backend's only option is keep-alive and the proxy keeps the client connection open too, the
    // backend's bytes already say what the proxy would, and the head goes out uncopied.
    return this.#onlyKeepAlive && (connection === "" || connection === "keep-alive");
  }

  /**
   * The head for the client: the backend's bytes without hop-by-hop fields, ending with the
   * Connection field the client needs. `connection` is "close", "keep-alive" (an HTTP/1.0 client that
   * asked for it), "upgrade" (a 101 to a tunnel) or "" (nothing to say: HTTP/1.1 persists by default).
   */
  clientHead(buf: Buffer, start: number, end: number, connection: "" | "close" | "keep-alive" | "upgrade"): Buffer {
    if (this.keepsHead(connection)) return buf.subarray(start, end);
    const drops = this.#drops;
    const tail = connection === "close" ? CONNECTION_CLOSE
      : connection === "keep-alive" ? CONNECTION_KEEP_ALIVE
      : connection === "upgrade" ? CONNECTION_UPGRADE
      : null;
    let size = end - start;
    for (let d = 0; d < drops.length; d += 2) size -= drops[d + 1] - drops[d];
    if (tail !== null) size += tail.length - 2;
    const out = Buffer.allocUnsafe(size);
    let w = 0;
    let from = start;
    for (let d = 0; d < drops.length; d += 2) {
      w += buf.copy(out, w, from, drops[d]);
      from = drops[d + 1];
    }
    if (tail === null) {
      buf.copy(out, w, from, end);
    } else {
      w += buf.copy(out, w, from, end - 2);
      tail.copy(out, w);
    }
    return out;
  }
}

/**
 * Fields a backend's Connection header may not make hop-by-hop: the proxy frames the response with
 * them, so the client must get them too, or it would read the next response as part of this body.
 */
const NEVER_HOP_BY_HOP = new Set(["content-length", "transfer-encoding"]);

/** Connection options other than close and keep-alive: names of fields that are hop-by-hop too. */
function namedOptions(buf: Buffer, start: number, end: number, into: string[] | null): string[] | null {
  for (const option of buf.toString("latin1", start, end).split(",")) {
    const name = option.trim().toLowerCase();
    // "upgrade" names the Upgrade field, which a 101 must carry to the client.
    if (name !== "" && name !== "close" && name !== "keep-alive" && name !== "upgrade" && !NEVER_HOP_BY_HOP.has(name)) {
      (into ??= []).push(name);
    }
  }
  return into;
}

/** Adds the lines of fields named in Connection to `drops`, keeping `drops` in head order. */
function dropNamed(buf: Buffer, start: number, headEnd: number, named: readonly string[], drops: number[]): void {
  let pos = start;
  while (pos < headEnd) {
    const next = buf.indexOf(LF, pos);
    const colon = buf.indexOf(COLON, pos);
    for (const name of named) {
      if (equalsLower(buf, pos, colon - pos, name)) {
        drops.push(pos, next + 1);
        break;
      }
    }
    pos = next + 1;
  }
  const pairs: [number, number][] = [];
  for (let i = 0; i < drops.length; i += 2) pairs.push([drops[i], drops[i + 1]]);
  pairs.sort((a, b) => a[0] - b[0]);
  drops.length = 0;
  for (const [s, e] of pairs) {
    if (drops.length === 0 || drops[drops.length - 2] !== s) drops.push(s, e);
  }
}

function containsToken(buf: Buffer, start: number, end: number, token: string): boolean {
  let s = start;
  while (s < end) {
    let e = s;
    while (e < end && buf[e] !== 0x2c) e++;
    let ts = s;
    let te = e;
    while (ts < te && (buf[ts] === SP || buf[ts] === HTAB)) ts++;
    while (te > ts && (buf[te - 1] === SP || buf[te - 1] === HTAB)) te--;
    if (equalsLower(buf, ts, te - ts, token)) return true;
    s = e + 1;
  }
  return false;
}
