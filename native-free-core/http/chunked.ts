// Finds where a chunked body ends (RFC 9112 section 7.1) without decoding it: the proxy forwards the
// chunked bytes as they arrived and only needs to know where the message stops and whether its framing
// is sound. Chunk data is skipped in one step; only size lines and trailers are read byte by byte.

import { CR, FIELD_VALUE, HEX_VALUE, HTAB, LF, SP, TCHAR } from "./syntax.ts";

const SIZE = 0;
const EXTENSION = 1;
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

/** 13 hex digits keep a chunk size below 2^52, an exact integer; longer sizes are refused. */
const MAX_SIZE_DIGITS = 13;

export class ChunkedScanner {
  #state = SIZE;
  #size = 0;
  #digits = 0;
  #remaining = 0;
  #trailerBytes = 0;
  #nameLength = 0;
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
          } else if (b === 0x3b /* ; */ || b === SP || b === HTAB) {
            this.#state = EXTENSION;
          } else {
            return this.#fail();
          }
          i++;
          continue;
        }
        case EXTENSION: {
          // Extensions are passed on untouched; only their bytes are checked.
          const b = buf[i++];
          if (b === CR) this.#state = SIZE_LF;
          else if (FIELD_VALUE[b] === 0) return this.#fail();
          if (++this.#trailerBytes > this.#maxTrailerBytes) return this.#fail();
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
          if (b === 0x3a /* : */) this.#state = TRAILER_VALUE;
          else if (TCHAR[b] === 1) this.#nameLength++;
          else return this.#fail();
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

  #fail(): number {
    this.failed = true;
    return -1;
  }
}
