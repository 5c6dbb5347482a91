// A contract check that reads a JSON body's bytes in place, without building the document: a schema
// is compiled once into a tree of scan nodes, and a body is walked byte by byte against it.
//
// Why: parsing a 10 MB body into values and then checking them (JSON.parse + TypeBox Check) costs
// about 100 ms of CPU and hundreds of thousands of live objects, which the garbage collector must
// then copy and sweep; on a loaded machine that CPU comes out of the small requests' latency. The
// scan allocates nothing for most bodies (a string only to test a pattern or an enum on a value
// with escapes or non-ASCII characters) and reads each byte once (twice or more only under anyOf
// and allOf, whose alternatives each walk the value).
//
// It only ever *vouches*: `vouches(body)` is true when the body is certainly JSON that the
// operation's TypeBox validator accepts. Anything else (invalid JSON, a value off the contract, a
// byte sequence or a name it leaves undecoded) answers false, and the caller falls back to
// JSON.parse + Check, which decides and words the refusal. So the scan never has to reproduce a
// refusal, only be sure of an acceptance. Keywords it does not implement are handed, value by
// value, to TypeBox itself (DELEGATE below).

import { Compile, type Validator } from "typebox/compile";
import type { JsonSchema } from "../config.ts";
import { AsciiPattern } from "./ascii-pattern.ts";

// JSON value kinds, as bits of ScanNode.types.
const T_OBJECT = 1;
const T_ARRAY = 2;
const T_STRING = 4;
const T_NUMBER = 8;
const T_INTEGER = 16;
const T_BOOLEAN = 32;
const T_NULL = 64;
const T_ALL = 127;
const TYPE_BITS: Readonly<Record<string, number>> = {
  object: T_OBJECT,
  array: T_ARRAY,
  string: T_STRING,
  number: T_NUMBER | T_INTEGER,
  integer: T_INTEGER,
  boolean: T_BOOLEAN,
  null: T_NULL,
};

// What a node is. One class with a kind, not a class per kind: the scan's calls then see one shape
// of node, which keeps them fast.
/** Any JSON value (the schema `true`, `{}`, or annotations only): checked for JSON syntax alone. */
const ANY = 0;
/** No value (the schema `false`). */
const NEVER = 1;
/** Keywords the scan implements itself. */
const NATIVE = 2;
/** Keywords it does not: the value's bytes are parsed alone and given to TypeBox's validator of this node. */
const DELEGATE = 3;

/** Keywords that constrain nothing (TypeBox's own markers included). */
const ANNOTATIONS = new Set(["title", "description", "default", "examples", "$comment", "$schema", "readOnly", "writeOnly", "deprecated", "~kind", "~optional", "~readonly"]);
/** Keywords the scan implements. */
const NATIVE_KEYWORDS = new Set([
  "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems",
  "minLength", "maxLength", "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
  "enum", "const", "anyOf", "allOf",
]);
/**
 * Keywords whose meaning depends on more than the value under them (references into the document,
 * properties or items evaluated elsewhere): a schema using any of them anywhere is not scanned at all.
 */
const CONTEXTUAL = ["$ref", "$defs", "definitions", "$id", "$anchor", "$dynamicRef", "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor", "unevaluatedProperties", "unevaluatedItems"];
/** Deeper schemas are not scanned (so compiling one recurses a bounded depth, and a cyclic one ends). */
const MAX_SCHEMA_DEPTH = 64;

type Literal = string | number | boolean | null;

type Kind = typeof ANY | typeof NEVER | typeof NATIVE | typeof DELEGATE;

class ScanNode {
  kind: Kind = ANY;
  types = T_ALL;
  // Strings.
  minLength = 0;
  maxLength = Infinity;
  pattern: RegExp | null = null;
  /** The pattern matched on bytes, for ASCII strings without escapes (null: RegExp only). */
  bytePattern: AsciiPattern | null = null;
  // Numbers.
  minimum = -Infinity;
  maximum = Infinity;
  exclusiveMinimum = -Infinity;
  exclusiveMaximum = Infinity;
  // enum and const, as one list of allowed primitives (null: no such keyword).
  literals: Literal[] | null = null;
  // Arrays.
  items: ScanNode | null = null;
  minItems = 0;
  maxItems = Infinity;
  // Objects: the named properties (in `properties` or `required`) with their UTF-8 names, and what
  // every other property must be. Bytes and flags are kept in plain arrays of small integers, which
  // the scan reads faster than typed arrays.
  names: number[][] = [];
  nameNodes: ScanNode[] = [];
  /** Per name: whether it is required. */
  requiredFlags: boolean[] = [];
  requiredCount = 0;
  /** Per name: the object visit in which it was last seen, so no visit has to clear the marks. */
  seen: Uint32Array = new Uint32Array(0);
  visits = 0;
  additional: ScanNode | null = null;
  // Combinators.
  anyOf: ScanNode[] | null = null;
  allOf: ScanNode[] | null = null;
  /** For DELEGATE: TypeBox's validator of this node's schema alone. */
  delegate: Validator | null = null;
}

/** A schema compiled for scanning. */
export class JsonScan {
  readonly #root: ScanNode;
  readonly #scanner = new Scanner();

  private constructor(root: ScanNode) {
    this.#root = root;
  }

  /** The scan of `schema`, or null when the schema uses keywords that only a whole document can resolve. */
  static compile(schema: JsonSchema): JsonScan | null {
    if (usesContext(schema, 0)) return null;
    const root = compileNode(schema);
    // A schema the scan would hand to TypeBox whole is better checked by TypeBox directly.
    return root.kind === DELEGATE ? null : new JsonScan(root);
  }

  /** True when `body` (bytes, all of it) is certainly JSON that the schema accepts; false when unsure. */
  vouches(body: Buffer): boolean {
    return this.#scanner.run(this.#root, body);
  }
}

function usesContext(schema: unknown, depth: number): boolean {
  if (depth > MAX_SCHEMA_DEPTH) return true;
  if (Array.isArray(schema)) return schema.some((s) => usesContext(s, depth + 1));
  if (typeof schema !== "object" || schema === null) return false;
  for (const key of CONTEXTUAL) if (Object.hasOwn(schema, key)) return true;
  return Object.values(schema).some((s) => usesContext(s, depth + 1));
}

function compileNode(schema: JsonSchema): ScanNode {
  const node = new ScanNode();
  if (schema === true) return node;
  if (schema === false) {
    node.kind = NEVER;
    return node;
  }
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) return delegateNode(schema);
  const s = schema as Record<string, unknown>;
  let constrained = false;
  for (const key of Object.keys(s)) {
    if (ANNOTATIONS.has(key)) continue;
    if (!NATIVE_KEYWORDS.has(key) || !wellFormed(key, s[key])) return delegateNode(schema);
    constrained = true;
  }
  if (!constrained) return node;
  node.kind = NATIVE;
  if (s.type !== undefined) {
    node.types = 0;
    for (const name of Array.isArray(s.type) ? s.type : [s.type]) {
      const bits = TYPE_BITS[name as string];
      // A type name JSON cannot produce (TypeBox's "undefined", "bigint", ...) matches no body.
      node.types |= bits ?? 0;
    }
  }
  if (typeof s.minLength === "number") node.minLength = s.minLength;
  if (typeof s.maxLength === "number") node.maxLength = s.maxLength;
  if (typeof s.pattern === "string") {
    node.pattern = new RegExp(s.pattern, "u");
    node.bytePattern = AsciiPattern.compile(s.pattern);
  }
  if (typeof s.minimum === "number") node.minimum = s.minimum;
  if (typeof s.maximum === "number") node.maximum = s.maximum;
  if (typeof s.exclusiveMinimum === "number") node.exclusiveMinimum = s.exclusiveMinimum;
  if (typeof s.exclusiveMaximum === "number") node.exclusiveMaximum = s.exclusiveMaximum;
  if (s.enum !== undefined) node.literals = [...(s.enum as Literal[])];
  if (s.const !== undefined) node.literals = node.literals === null ? [s.const as Literal] : node.literals.filter((v) => v === s.const);
  if (s.items !== undefined) node.items = compileNode(s.items as JsonSchema);
  if (typeof s.minItems === "number") node.minItems = s.minItems;
  if (typeof s.maxItems === "number") node.maxItems = s.maxItems;
  if (s.properties !== undefined || s.required !== undefined || s.additionalProperties !== undefined) {
    const properties = (s.properties ?? {}) as Record<string, JsonSchema>;
    const required = new Set((s.required ?? []) as string[]);
    node.additional = s.additionalProperties === undefined ? null : compileNode(s.additionalProperties as JsonSchema);
    const names = [...new Set([...Object.keys(properties), ...required])];
    // TypeBox asks `name in value` of most names, so a name that every object inherits (toString,
    // __proto__) is "present" there and absent here: such objects are left to TypeBox whole.
    if (names.some((name) => name in Object.prototype)) return delegateNode(schema);
    // A name with a quote, backslash or control character is always escaped in JSON, and one with
    // a lone surrogate has no UTF-8 form: neither can be found by its bytes.
    if (names.some((name) => /["\\\u0000-\u001f]/.test(name) || Buffer.from(name, "utf8").toString("utf8") !== name)) return delegateNode(schema);
    node.names = names.map((name) => [...Buffer.from(name, "utf8")]);
    node.nameNodes = names.map((name) =>
      Object.hasOwn(properties, name) ? compileNode(properties[name]) : (node.additional ?? new ScanNode()),
    );
    node.requiredFlags = names.map((name) => required.has(name));
    node.requiredCount = required.size;
    node.seen = new Uint32Array(names.length);
  }
  if (s.anyOf !== undefined) node.anyOf = (s.anyOf as JsonSchema[]).map((alt) => compileNode(alt));
  if (s.allOf !== undefined) node.allOf = (s.allOf as JsonSchema[]).map((alt) => compileNode(alt));
  return node;
}

/** Whether a keyword has the shape that makes TypeBox apply it (anything else is left to TypeBox). */
function wellFormed(key: string, value: unknown): boolean {
  const isSchema = (v: unknown) => typeof v === "boolean" || (typeof v === "object" && v !== null && !Array.isArray(v));
  const isCount = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v >= 0;
  const isLiteral = (v: unknown) => v === null || typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v));
  switch (key) {
    case "type":
      return typeof value === "string" || (Array.isArray(value) && value.length > 0 && value.every((t) => typeof t === "string"));
    case "properties":
      return typeof value === "object" && value !== null && !Array.isArray(value) && Object.values(value).every(isSchema);
    case "required":
      return Array.isArray(value) && value.every((v) => typeof v === "string");
    case "additionalProperties":
    case "items":
      return isSchema(value);
    case "minItems":
    case "maxItems":
    case "minLength":
    case "maxLength":
      return isCount(value);
    case "pattern":
      if (typeof value !== "string") return false;
      try {
        new RegExp(value, "u");
        return true;
      } catch {
        return false;
      }
    case "minimum":
    case "maximum":
    case "exclusiveMinimum":
    case "exclusiveMaximum":
      return typeof value === "number" && Number.isFinite(value);
    case "enum":
      return Array.isArray(value) && value.every(isLiteral);
    case "const":
      return isLiteral(value);
    case "anyOf":
    case "allOf":
      return Array.isArray(value) && value.length > 0 && value.every(isSchema);
    default:
      return false;
  }
}

function delegateNode(schema: unknown): ScanNode {
  const node = new ScanNode();
  node.kind = DELEGATE;
  node.delegate = Compile(schema as never) as Validator;
  return node;
}

// Bytes of JSON's syntax.
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

/** ASCII bytes that stand for themselves inside a string (not a quote, a backslash or a control character). */
const PLAIN_IN_STRING = new Uint8Array(256);
for (let b = 0x20; b < 0x80; b++) PLAIN_IN_STRING[b] = b === QUOTE || b === BACKSLASH ? 0 : 1;
/** Bytes after a backslash that stand for one character. */
const SIMPLE_ESCAPE = new Uint8Array(256);
for (const c of '"\\/bfnrt') SIMPLE_ESCAPE[c.charCodeAt(0)] = 1;
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 16; i++) HEX["0123456789abcdef".charCodeAt(i)] = i;
for (let i = 10; i < 16; i++) HEX["ABCDEF".charCodeAt(i - 10)] = i;

/** Largest integer whose digits are summed exactly in a double (15 digits stay below 2^53). */
const EXACT_DIGITS = 15;

/**
 * One walk over a body. Fields rather than arguments: the position moves through every method.
 * `#skip` walks a value no schema constrains iteratively, so an unconstrained value may nest as
 * deep as JSON.parse allows; the walk with a schema recurses only as deep as the schema is.
 */
class Scanner {
  buf: Buffer = EMPTY;
  pos = 0;
  end = 0;
  // The last string scanned: whether it had escapes or non-ASCII bytes, and its length in code points.
  strEscaped = false;
  strAscii = true;
  strCodePoints = 0;
  // The last number scanned.
  num = 0;
  /** Per level of the unconstrained walk: 1 inside an object, 0 inside an array. */
  #levels = new Uint8Array(64);

  run(root: ScanNode, body: Buffer): boolean {
    this.buf = body;
    this.pos = 0;
    this.end = body.length;
    try {
      if (!this.value(root)) return false;
      this.ws();
      return this.pos === this.end;
    } catch {
      // Only a delegated value's parse or check can throw (the scan itself does not): unsure.
      return false;
    } finally {
      this.buf = EMPTY;
    }
  }

  ws(): void {
    const buf = this.buf;
    let p = this.pos;
    while (p < this.end) {
      const b = buf[p];
      if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) break;
      p++;
    }
    this.pos = p;
  }

  value(node: ScanNode): boolean {
    const kind = node.kind;
    if (kind === ANY) return this.skip();
    if (kind === NEVER) return false;
    this.ws();
    const start = this.pos;
    if (kind === DELEGATE) {
      if (!this.skip()) return false;
      return (node.delegate as Validator).Check(JSON.parse(this.buf.toString("utf8", start, this.pos)));
    }
    if (!this.typed(node)) return false;
    if (node.anyOf === null && node.allOf === null) return true;
    const end = this.pos;
    if (node.allOf !== null) {
      for (const alt of node.allOf) {
        this.pos = start;
        if (!this.value(alt)) return false;
      }
    }
    if (node.anyOf !== null) {
      let any = false;
      for (const alt of node.anyOf) {
        this.pos = start;
        if (this.value(alt)) {
          any = true;
          break;
        }
      }
      if (!any) return false;
    }
    this.pos = end;
    return true;
  }

  /** The value at `pos` against a NATIVE node's own keywords (its combinators aside). */
  typed(node: ScanNode): boolean {
    if (this.pos >= this.end) return false;
    const b = this.buf[this.pos];
    const types = node.types;
    if (b === QUOTE) {
      if ((types & T_STRING) === 0) return false;
      return this.string(node);
    }
    // enum and const hold primitives only (others are delegated): no object or array is among them.
    if (b === OPEN_BRACE) return (types & T_OBJECT) !== 0 && node.literals === null && this.object(node);
    if (b === OPEN_BRACKET) return (types & T_ARRAY) !== 0 && node.literals === null && this.array(node);
    if (b === MINUS || (b >= ZERO && b <= NINE)) {
      if ((types & (T_NUMBER | T_INTEGER)) === 0 || !this.number(true)) return false;
      const n = this.num;
      // JSON.parse gives Infinity for 1e400, which TypeBox counts as no number (while a schema
      // without `type` would let it pass): either way the scan does not vouch for it.
      if (!Number.isFinite(n)) return false;
      if ((types & T_NUMBER) === 0 && !Number.isInteger(n)) return false;
      if (n < node.minimum || n > node.maximum || n <= node.exclusiveMinimum || n >= node.exclusiveMaximum) return false;
      return node.literals === null || node.literals.includes(n);
    }
    let literal: Literal;
    if (b === 0x74) {
      if (!this.word(TRUE)) return false;
      literal = true;
    } else if (b === 0x66) {
      if (!this.word(FALSE)) return false;
      literal = false;
    } else if (b === 0x6e) {
      if (!this.word(NULL)) return false;
      if ((types & T_NULL) === 0) return false;
      return node.literals === null || node.literals.includes(null);
    } else {
      return false;
    }
    if ((types & T_BOOLEAN) === 0) return false;
    return node.literals === null || node.literals.includes(literal);
  }

  word(bytes: readonly number[]): boolean {
    const buf = this.buf;
    const p = this.pos;
    if (p + bytes.length > this.end) return false;
    for (let i = 0; i < bytes.length; i++) if (buf[p + i] !== bytes[i]) return false;
    this.pos = p + bytes.length;
    return true;
  }

  string(node: ScanNode): boolean {
    const start = this.pos;
    if (!this.scanString()) return false;
    const cps = this.strCodePoints;
    if (cps < node.minLength || cps > node.maxLength) return false;
    const pattern = node.pattern;
    if (pattern === null && node.literals === null) return true;
    let text: string | null = null;
    if (pattern !== null) {
      const matched = node.bytePattern !== null && this.strAscii && !this.strEscaped ? node.bytePattern.matches(this.buf, start + 1, this.pos - 1) : undefined;
      if (matched === false) return false;
      if (matched === undefined && !pattern.test((text = this.text(start)))) return false;
    }
    return node.literals === null || node.literals.includes(text ?? this.text(start));
  }

  /** The string whose quote opened at `start` and that scanString just passed, decoded. */
  text(start: number): string {
    if (this.strEscaped) return JSON.parse(this.buf.toString("utf8", start, this.pos)) as string;
    return this.buf.toString(this.strAscii ? "latin1" : "utf8", start + 1, this.pos - 1);
  }

  /**
   * Passes the string at `pos` (its opening quote), counting its code points as TypeBox does
   * (a surrogate pair is one). False on anything JSON.parse would refuse, and on bytes that are not
   * well-formed UTF-8 (the decoder would replace them; the scan leaves that to the fallback).
   */
  scanString(): boolean {
    const buf = this.buf;
    const end = this.end;
    let p = this.pos + 1;
    let cps = 0;
    let escaped = false;
    let ascii = true;
    /** The last UTF-16 unit was a high surrogate from an escape. */
    let high = false;
    for (;;) {
      // Most of a string is plain ASCII: one table lookup a byte.
      const run = p;
      while (p < end && PLAIN_IN_STRING[buf[p]] === 1) p++;
      if (p !== run) {
        cps += p - run;
        high = false;
      }
      if (p >= end) return false;
      const b = buf[p];
      if (b === QUOTE) break;
      if (b < 0x20) return false;
      if (b === BACKSLASH) {
        escaped = true;
        if (p + 1 >= end) return false;
        const e = buf[p + 1];
        if (SIMPLE_ESCAPE[e] === 1) {
          p += 2;
          cps++;
          high = false;
          continue;
        }
        if (e !== 0x75 || p + 5 >= end) return false;
        const h0 = HEX[buf[p + 2]], h1 = HEX[buf[p + 3]], h2 = HEX[buf[p + 4]], h3 = HEX[buf[p + 5]];
        if ((h0 | h1 | h2 | h3) < 0) return false;
        const unit = (h0 << 12) | (h1 << 8) | (h2 << 4) | h3;
        const low = unit >= 0xdc00 && unit <= 0xdfff;
        if (!(low && high)) cps++;
        high = unit >= 0xd800 && unit <= 0xdbff;
        p += 6;
        continue;
      }
      const n = utf8Length(buf, p, end);
      if (n === 0) return false;
      p += n;
      cps++;
      ascii = false;
      high = false;
    }
    this.pos = p + 1;
    this.strEscaped = escaped;
    this.strAscii = ascii;
    this.strCodePoints = cps;
    return true;
  }

  /** Passes a number in JSON's grammar; its value goes in `num` when `valued`. */
  number(valued: boolean): boolean {
    const buf = this.buf;
    const end = this.end;
    const start = this.pos;
    let p = start;
    const negative = buf[p] === MINUS;
    if (negative) p++;
    if (p >= end) return false;
    let b = buf[p];
    let value = 0;
    let digits = 0;
    if (b === ZERO) {
      p++;
    } else if (b > ZERO && b <= NINE) {
      while (p < end && (b = buf[p]) >= ZERO && b <= NINE) {
        value = value * 10 + (b - ZERO);
        digits++;
        p++;
      }
    } else {
      return false;
    }
    let exact = digits <= EXACT_DIGITS;
    if (p < end && buf[p] === DOT) {
      p++;
      const first = p;
      while (p < end && (b = buf[p]) >= ZERO && b <= NINE) p++;
      if (p === first) return false;
      exact = false;
    }
    if (p < end && (buf[p] === 0x65 || buf[p] === 0x45)) {
      p++;
      if (p < end && (buf[p] === 0x2b || buf[p] === MINUS)) p++;
      const first = p;
      while (p < end && (b = buf[p]) >= ZERO && b <= NINE) p++;
      if (p === first) return false;
      exact = false;
    }
    this.pos = p;
    // The same conversion JSON.parse makes (both round the decimal to the nearest double).
    if (valued) this.num = exact ? (negative ? -value : value) : Number(buf.toString("latin1", start, p));
    return true;
  }

  array(node: ScanNode): boolean {
    const items = node.items;
    const max = node.maxItems;
    let count = 0;
    if (this.opensEmpty(CLOSE_BRACKET)) return node.minItems === 0;
    for (;;) {
      if (++count > max) return false;
      if (items === null ? !this.skip() : !this.value(items)) return false;
      this.ws();
      if (this.pos >= this.end) return false;
      const b = this.buf[this.pos++];
      if (b === COMMA) continue;
      if (b === CLOSE_BRACKET) break;
      return false;
    }
    return count >= node.minItems;
  }

  object(node: ScanNode): boolean {
    const names = node.names;
    const seen = node.seen;
    // Visits are numbered from 1; after 2^32 of them the marks are cleared once.
    let visit = (node.visits = (node.visits + 1) >>> 0);
    if (visit === 0) {
      seen.fill(0);
      visit = node.visits = 1;
    }
    let requiredSeen = 0;
    if (this.opensEmpty(CLOSE_BRACE)) return node.requiredCount === 0;
    for (;;) {
      if (this.pos >= this.end || this.buf[this.pos] !== QUOTE) return false;
      const keyStart = this.pos + 1;
      // A name of the schema is found by its bytes, followed by the closing quote (a name that needs
      // escaping in JSON never matches raw bytes, and is not compiled as one). Any other name is
      // scanned as a string; an escaped one is rare enough to leave to the fallback.
      const index = names.length === 0 ? -1 : this.nameAt(names, keyStart);
      let keyEnd: number;
      if (index >= 0) {
        keyEnd = keyStart + names[index].length;
        this.pos = keyEnd + 1;
      } else {
        if (!this.scanString() || this.strEscaped) return false;
        keyEnd = this.pos - 1;
      }
      if (!this.colon()) return false;
      // A name that appears twice is checked each time; JSON.parse keeps the last, which is then valid too.
      if (index >= 0) {
        if (!this.value(node.nameNodes[index])) return false;
        if (node.requiredFlags[index] && seen[index] !== visit) {
          seen[index] = visit;
          requiredSeen++;
        }
      } else if (node.additional !== null) {
        if (node.additional.kind !== ANY && this.isProto(keyStart, keyEnd)) return false;
        if (!this.value(node.additional)) return false;
      } else if (!this.skip()) {
        return false;
      }
      this.ws();
      if (this.pos >= this.end) return false;
      const b = this.buf[this.pos++];
      if (b === COMMA) {
        this.ws();
        continue;
      }
      if (b === CLOSE_BRACE) break;
      return false;
    }
    return requiredSeen === node.requiredCount;
  }

  /** The index of the name whose bytes, then a quote, start at `start`; -1 for none. */
  nameAt(names: number[][], start: number): number {
    const buf = this.buf;
    const room = this.end - start;
    outer: for (let i = 0; i < names.length; i++) {
      const name = names[i];
      const length = name.length;
      if (length >= room || buf[start + length] !== QUOTE) continue;
      for (let j = 0; j < length; j++) if (name[j] !== buf[start + j]) continue outer;
      return i;
    }
    return -1;
  }

  /** A property named __proto__: JSON.parse makes it an own property, which not every check treats alike. */
  isProto(start: number, end: number): boolean {
    return end - start === 9 && this.buf.toString("latin1", start, end) === "__proto__";
  }

  /** Passes any one JSON value, checking only its syntax. */
  skip(): boolean {
    const buf = this.buf;
    let levels = this.#levels;
    let depth = 0;
    for (;;) {
      // A value.
      this.ws();
      if (this.pos >= this.end) return false;
      const b = buf[this.pos];
      let opened = -1;
      if (b === QUOTE) {
        if (!this.scanString()) return false;
      } else if (b === OPEN_BRACE) {
        if (!this.opensEmpty(CLOSE_BRACE)) opened = 1;
      } else if (b === OPEN_BRACKET) {
        if (!this.opensEmpty(CLOSE_BRACKET)) opened = 0;
      } else if (b === MINUS || (b >= ZERO && b <= NINE)) {
        if (!this.number(false)) return false;
      } else if (b === 0x74) {
        if (!this.word(TRUE)) return false;
      } else if (b === 0x66) {
        if (!this.word(FALSE)) return false;
      } else if (b === 0x6e) {
        if (!this.word(NULL)) return false;
      } else {
        return false;
      }
      if (opened >= 0) {
        if (depth === levels.length) {
          const grown = new Uint8Array(levels.length * 2);
          grown.set(levels);
          this.#levels = levels = grown;
        }
        levels[depth++] = opened;
        if (opened === 1 && !this.key()) return false;
        continue;
      }
      // After a value: close what ends here, until a comma asks for the next value.
      for (;;) {
        if (depth === 0) return true;
        this.ws();
        if (this.pos >= this.end) return false;
        const c = buf[this.pos++];
        const inObject = levels[depth - 1] === 1;
        if (c === COMMA) {
          if (inObject && !this.key()) return false;
          break;
        }
        if (c === (inObject ? CLOSE_BRACE : CLOSE_BRACKET)) {
          depth--;
          continue;
        }
        return false;
      }
    }
  }

  /** Passes `"name" :` inside an object being skipped. */
  key(): boolean {
    this.ws();
    if (this.pos >= this.end || this.buf[this.pos] !== QUOTE || !this.scanString()) return false;
    return this.colon();
  }

  /** Passes whitespace and the colon after a property name; false when no colon follows. */
  colon(): boolean {
    this.ws();
    if (this.pos >= this.end || this.buf[this.pos] !== COLON) return false;
    this.pos++;
    return true;
  }

  /**
   * Passes the `{` or `[` at `pos` and the whitespace after it. True, having passed `close` too,
   * when the object or array is empty.
   */
  opensEmpty(close: number): boolean {
    this.pos++;
    this.ws();
    if (this.pos >= this.end || this.buf[this.pos] !== close) return false;
    this.pos++;
    return true;
  }
}

const EMPTY = Buffer.alloc(0);
const TRUE = [...Buffer.from("true")];
const FALSE = [...Buffer.from("false")];
const NULL = [...Buffer.from("null")];

/**
 * The length of the well-formed UTF-8 sequence at `p` (2 to 4 bytes), or 0: overlong forms,
 * surrogates and code points past U+10FFFF are not well-formed.
 */
function utf8Length(buf: Buffer, p: number, end: number): number {
  const b = buf[p];
  const cont = (i: number) => p + i < end && (buf[p + i] & 0xc0) === 0x80;
  if (b >= 0xc2 && b <= 0xdf) return cont(1) ? 2 : 0;
  if (b >= 0xe0 && b <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    const b1 = buf[p + 1];
    if (b === 0xe0 && b1 < 0xa0) return 0;
    if (b === 0xed && b1 >= 0xa0) return 0;
    return 3;
  }
  if (b >= 0xf0 && b <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const b1 = buf[p + 1];
    if (b === 0xf0 && b1 < 0x90) return 0;
    if (b === 0xf4 && b1 >= 0x90) return 0;
    return 4;
  }
  return 0;
}
