// Byte classes of HTTP/1.1 (RFC 9110 section 5.6.2, RFC 9112) as lookup tables, so that parsing a head
// is one table load per byte and no regular expression or string is made for what is only checked.

export const CR = 13;
export const LF = 10;
export const SP = 32;
export const HTAB = 9;
export const COLON = 58;

/** tchar: the characters of a token (method, header name, transfer coding). */
export const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

/** Bytes allowed in a field value: VCHAR, obs-text, SP and HTAB. Everything else (CR, LF, NUL, other CTLs, DEL) is refused. */
export const FIELD_VALUE = new Uint8Array(256);
for (let c = 0x20; c <= 0xff; c++) FIELD_VALUE[c] = c === 0x7f ? 0 : 1;
FIELD_VALUE[HTAB] = 1;

/**
 * Bytes allowed in a request target: visible ASCII only (no spaces, controls or raw non-ASCII), and
 * no "#": a fragment is never part of a request, and parsers differ on whether to strip it.
 */
export const TARGET = new Uint8Array(256);
for (let c = 0x21; c <= 0x7e; c++) TARGET[c] = 1;
TARGET[0x23] = 0;

/**
 * Bytes of an authority without userinfo (RFC 3986 section 3.2: host, IP literal, port): "@" is not
 * among them, so "user@host" ends the authority early and is refused.
 */
export const AUTHORITY = new Uint8Array(256);
for (const c of "-._~%!$&'()*+,;=:[]") AUTHORITY[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) AUTHORITY[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) AUTHORITY[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) AUTHORITY[c] = 1;

export const HEX_VALUE = new Int8Array(256).fill(-1);
for (let c = 0; c <= 9; c++) HEX_VALUE[0x30 + c] = c;
for (let c = 0; c < 6; c++) {
  HEX_VALUE[0x41 + c] = 10 + c;
  HEX_VALUE[0x61 + c] = 10 + c;
}

/** Compares buf[start, start+name.length) with a lower-case ASCII name, ignoring case. */
export function equalsLower(buf: Buffer, start: number, length: number, lowerName: string): boolean {
  if (length !== lowerName.length) return false;
  for (let i = 0; i < length; i++) {
    if ((buf[start + i] | 0x20) !== lowerName.charCodeAt(i)) return false;
  }
  return true;
}

export function isToken(buf: Buffer, start: number, end: number): boolean {
  if (end <= start) return false;
  for (let i = start; i < end; i++) if (TCHAR[buf[i]] === 0) return false;
  return true;
}

/**
 * The first LF in buf[from, to), or -1. Head lines are tens of bytes: a loop over them costs less
 * than Buffer#indexOf, whose every call crosses into C++ through argument checks.
 */
export function findLF(buf: Buffer, from: number, to: number): number {
  if (to - from > SHORT_SCAN) {
    const at = buf.indexOf(LF, from);
    return at >= 0 && at < to ? at : -1;
  }
  for (let i = from; i < to; i++) if (buf[i] === LF) return i;
  return -1;
}

/** Past this many bytes, memchr and memmem in C++ win over a loop despite the call. */
const SHORT_SCAN = 512;
const HEAD_END = Buffer.from("\r\n\r\n", "latin1");

/** Where the first CRLFCRLF at or after `from` starts, or -1 (looked for in buf[from, buf.length)). */
export function findHeadEnd(buf: Buffer, from: number): number {
  const to = buf.length;
  if (to - from > SHORT_SCAN) return buf.indexOf(HEAD_END, from);
  for (let i = from + 3; i < to; i++) {
    if (buf[i] === LF && buf[i - 1] === CR && buf[i - 2] === LF && buf[i - 3] === CR) return i - 3;
  }
  return -1;
}

/** Below this many bytes a loop copies faster than Buffer#copy's call into C++ (see findLF). */
const SHORT_COPY = 64;

/** Copies src[start, end) into dst at `at`; returns the number of bytes copied. */
export function copyBytes(src: Uint8Array, dst: Uint8Array, at: number, start: number, end: number): number {
  const n = end - start;
  if (n > SHORT_COPY) {
    dst.set(src.subarray(start, end), at);
    return n;
  }
  for (let i = 0; i < n; i++) dst[at + i] = src[start + i];
  return n;
}
