// Finds where a chunked body ends (RFC 9112 section 7.1) without decoding it: the proxy forwards the
// chunked bytes as they arrived and only needs to know where the message stops and whether its framing
// is sound. Chunk data is skipped in one step; only size lines and trailers are read byte by byte.
//
// Because the bytes go on unchanged, everything accepted here must be read the same way by every
// parser behind the proxy. So the grammar is the strict one: hex digits, then either CRLF or
// extensions written as ";name" or ";name=value" (a token or a quoted string) with no whitespace
// anywhere; trailers that name no field which frames, routes or speaks for the connection or the
// client. Whatever a lenient parser might read otherwise is refused.

import { CR, FIELD_VALUE, HEX_VALUE, HTAB, LF, SP, TCHAR } from "./syntax.ts";

const SIZE = 0;
const SIZE_LF = 2;
const DATA = 3;
const DATA_CR = 4;
const DATA_LF = 5;
const TRAILER_START = 6;
const TRAILER_NAME = 7;
const TRAILER_VALUE = 8;
const TRAILER_LF = 9;
const FINAL_LF = 10;
const DONE = 11;
// Chunk extensions: ";" name [ "=" ( token | quoted-string ) ], repeated.
const EXT_NAME_START = 12;
const EXT_NAME = 13;
const EXT_VALUE_START = 14;
const EXT_TOKEN_VALUE = 15;
const EXT_QUOTED = 16;
const EXT_QUOTED_PAIR = 17;
const EXT_QUOTED_END = 18;

/** qdtext of a quoted string (RFC 9110 section 5.6.4): HTAB, SP, and visible bytes but '"' and a backslash. */
const QDTEXT = new Uint8Array(256);
QDTEXT[HTAB] = 1;
QDTEXT[SP] = 1;
for (let c = 0x21; c <= 0xff; c++) QDTEXT[c] = c === 0x22 || c === 0x5c || c === 0x7f ? 0 : 1;

/**
 * Fields a trailer may not carry: a backend that merges trailers into the head would otherwise take
 * the framing, the host, the connection's options or the client's identity from bytes the proxy
 * passed through as body.
 */
const FORBIDDEN_TRAILERS = new Set([
  "content-length", "transfer-encoding", "host", "connection", "keep-alive", "proxy-connection", "te",
  "trailer", "upgrade", "expect", "via", "forwarded", "x-forwarded-for", "x-forwarded-host",
  "x-forwarded-proto", "content-encoding", "content-type", "content-range", "authorization",
  "proxy-authorization", "cookie", "set-cookie",
]);
const LONGEST_FORBIDDEN = Math.max(...[...FORBIDDEN_TRAILERS].map((n) => n.length));

/** 13 hex digits keep a chunk size below 2^52, an exact integer; longer sizes are refused. */
const MAX_SIZE_DIGITS = 13;

export class ChunkedScanner {
  #state = SIZE;
  #size = 0;
  #digits = 0;
  #remaining = 0;
  #trailerBytes = 0;
  #nameLength = 0;
  /** The trailer name being read, lower-cased, as far as a forbidden name could reach. */
  readonly #name = new Uint8Array(LONGEST_FORBIDDEN);
  readonly #maxTrailerBytes: number;
  /** Set when the framing is invalid; the message must be refused and the connection closed. */
  failed = false;

  constructor(maxTrailerBytes: number) {
    this.#maxTrailerBytes = maxTrailerBytes;
  }

  reset(): void {
    this.#state = SIZE;
    this.#size = 0;
    this.#digits = 0;
    this.#trailerBytes = 0;
    this.failed = false;
  }

  get done(): boolean {
    return this.#state === DONE;
  }

  /**
   * Reads buf[start, buf.length). Returns the index just past the body's last byte when the body
   * ends inside this buffer (then `done` is true), otherwise buf.length. On a framing error sets
   * `failed` and returns -1.
   */
  scan(buf: Buffer, start: number): number {
    const end = buf.length;
    let i = start;
    while (i < end) {
      switch (this.#state) {
        case DATA: {
          const take = Math.min(this.#remaining, end - i);
          i += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#state = DATA_CR;
          continue;
        }
        case SIZE: {
          const b = buf[i];
          const v = HEX_VALUE[b];
          if (v >= 0) {
            if (++this.#digits > MAX_SIZE_DIGITS) return this.#fail();
            this.#size = this.#size * 16 + v;
          } else if (this.#digits === 0) {
            return this.#fail();
          } else if (b === CR) {
            this.#state = SIZE_LF;
          } else if (b === 0x3b /* ; */) {
            this.#state = EXT_NAME_START;
          } else {
            return this.#fail(); // whitespace or anything else after the size
          }
          i++;
          continue;
        }
        case EXT_NAME_START:
        case EXT_NAME:
        case EXT_VALUE_START:
        case EXT_TOKEN_VALUE:
        case EXT_QUOTED:
        case EXT_QUOTED_PAIR:
        case EXT_QUOTED_END: {
          // Extensions are passed on untouched; their syntax is checked, their bytes are bounded.
          if (++this.#trailerBytes > this.#maxTrailerBytes) return this.#fail();
          const next = extensionStep(this.#state, buf[i++]);
          if (next < 0) return this.#fail();
          this.#state = next;
          continue;
        }
        case SIZE_LF:
          if (buf[i++] !== LF) return this.#fail();
          this.#digits = 0;
          if (this.#size === 0) {
            this.#state = TRAILER_START;
          } else {
            this.#remaining = this.#size;
            this.#size = 0;
            this.#state = DATA;
          }
          continue;
        case DATA_CR:
          if (buf[i++] !== CR) return this.#fail();
          this.#state = DATA_LF;
          continue;
        case DATA_LF:
          if (buf[i++] !== LF) return this.#fail();
          this.#state = SIZE;
          continue;
        case TRAILER_START: {
          const b = buf[i++];
          if (b === CR) {
            this.#state = FINAL_LF;
          } else if (TCHAR[b] === 1) {
            this.#name[0] = b | 0x20;
            this.#nameLength = 1;
            this.#state = TRAILER_NAME;
          } else {
            return this.#fail(); // obs-fold or garbage
          }
          if (++this.#trailerBytes > this.#maxTrailerBytes) return this.#fail();
          continue;
        }
        case TRAILER_NAME: {
          const b = buf[i++];
          if (b === 0x3a /* : */) {
            if (this.#forbiddenName()) return this.#fail();
            this.#state = TRAILER_VALUE;
          } else if (TCHAR[b] === 1) {
            if (this.#nameLength < LONGEST_FORBIDDEN) this.#name[this.#nameLength] = b | 0x20;
            this.#nameLength++;
          } else {
            return this.#fail();
          }
          if (++this.#trailerBytes > this.#maxTrailerBytes) return this.#fail();
          continue;
        }
        case TRAILER_VALUE: {
          const b = buf[i++];
          if (b === CR) this.#state = TRAILER_LF;
          else if (FIELD_VALUE[b] === 0) return this.#fail();
          if (++this.#trailerBytes > this.#maxTrailerBytes) return this.#fail();
          continue;
        }
        case TRAILER_LF:
          if (buf[i++] !== LF) return this.#fail();
          this.#state = TRAILER_START;
          continue;
        case FINAL_LF:
          if (buf[i++] !== LF) return this.#fail();
          this.#state = DONE;
          return i;
        default:
          return i;
      }
    }
    return end;
  }

  #forbiddenName(): boolean {
    const n = this.#nameLength;
    if (n > LONGEST_FORBIDDEN) return false;
    return FORBIDDEN_TRAILERS.has(String.fromCharCode(...this.#name.subarray(0, n)));
  }

  #fail(): number {
    this.failed = true;
    return -1;
  }
}

/** The extension state after byte `b`, or -1 when the extension is malformed. */
function extensionStep(state: number, b: number): number {
  switch (state) {
    case EXT_NAME_START:
      return TCHAR[b] === 1 ? EXT_NAME : -1;
    case EXT_NAME:
      if (TCHAR[b] === 1) return EXT_NAME;
      return b === 0x3d /* = */ ? EXT_VALUE_START : b === 0x3b ? EXT_NAME_START : b === CR ? SIZE_LF : -1;
    case EXT_VALUE_START:
      return TCHAR[b] === 1 ? EXT_TOKEN_VALUE : b === 0x22 /* " */ ? EXT_QUOTED : -1;
    case EXT_TOKEN_VALUE:
      if (TCHAR[b] === 1) return EXT_TOKEN_VALUE;
      return b === 0x3b ? EXT_NAME_START : b === CR ? SIZE_LF : -1;
    case EXT_QUOTED:
      if (QDTEXT[b] === 1) return EXT_QUOTED;
      return b === 0x22 ? EXT_QUOTED_END : b === 0x5c /* backslash */ ? EXT_QUOTED_PAIR : -1;
    case EXT_QUOTED_PAIR:
      return b === HTAB || (b >= 0x20 && b !== 0x7f) ? EXT_QUOTED : -1;
    case EXT_QUOTED_END:
      return b === 0x3b ? EXT_NAME_START : b === CR ? SIZE_LF : -1;
    default:
      return -1;
  }
}

/**
 * The data a complete chunked body frames, concatenated: for a body ChunkedScanner already accepted
 * (its framing is known to be sound), so sizes are read without checking again. Extensions and
 * trailers are skipped. Used to check the body's content while its own bytes go on unchanged.
 */
export function dechunk(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let pos = 0;
  for (;;) {
    let size = 0;
    while (HEX_VALUE[raw[pos]] >= 0) size = size * 16 + HEX_VALUE[raw[pos++]];
    // The rest of the size line: extensions, then CRLF.
    pos = raw.indexOf(LF, pos) + 1;
    if (size === 0 || pos === 0) break;
    parts.push(raw.subarray(pos, pos + size));
    pos += size + 2;
  }
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}
