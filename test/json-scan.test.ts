// The byte scan that vouches for valid JSON bodies without parsing them (json-scan.ts), and its
// pattern matcher (ascii-pattern.ts), held to what they stand in for. The scan must never vouch for
// a body that JSON.parse + TypeBox's compiled Check would refuse (it would let an ill-typed request
// through to a VM), and should vouch for the valid bodies of the schemas it implements (else it
// saves nothing). Both are checked on fixed vectors for every corner named in the scan's comments,
// and on thousands of generated schemas, bodies and byte-level mutations of them, from a fixed seed
// (FARMHAND_SCAN_SEED=N runs another, and prints what it covered).

import { test } from "uvu";
import * as assert from "uvu/assert";
import { Compile, type Validator } from "typebox/compile";
import { SeededRandom } from "../control/sim/random.ts";
import { AsciiPattern } from "../native-free-core/validation/ascii-pattern.ts";
import { JsonScan } from "../native-free-core/validation/json-scan.ts";
import { checkBody, MEDIA_JSON } from "../native-free-core/validation/body.ts";
import { BodySchema } from "../native-free-core/validation/body-schema.ts";

/** The same cases on every run: the project's seeded streams. */
function random(seed: number): () => number {
  return new SeededRandom(seed).stream("json-scan");
}

/** What the scan stands in for: the body decoded, parsed, and checked. */
function referenceAccepts(validator: Validator, body: Buffer): boolean {
  let value: unknown;
  try {
    value = JSON.parse(body.toString("utf8"));
  } catch {
    return false;
  }
  return validator.Check(value);
}

/** The scan's answer and the reference's, for one schema and body. */
function both(schema: unknown, body: string | Buffer): { scan: boolean | null; reference: boolean } {
  const bytes = typeof body === "string" ? Buffer.from(body, "utf8") : body;
  const scan = JsonScan.compile(schema as never);
  return { scan: scan === null ? null : scan.vouches(bytes), reference: referenceAccepts(Compile(schema as never) as Validator, bytes) };
}

// ---------------------------------------------------------------------------------------------
// The pattern matcher

test("patterns: the byte matcher agrees with RegExp (u flag) on contract-style patterns and edge strings", () => {
  const cases: [string, string[]][] = [
    ["^[a-z][a-z0-9-]{0,31}$", ["widget", "a", "", "Widget", "a-", "9a", "a".repeat(32), "a".repeat(33), "wid get"]],
    ["^c-[0-9]{1,12}$", ["c-1", "c-", "c-1234567890123", "c-123456789012", "cc-1", "c-1\n"]],
    ["^[A-Z]{3}-[0-9]{4}$", ["ABC-1234", "AB-1234", "ABCD-1234", "ABC-123", "abc-1234"]],
    ["[0-9]", ["a1b", "ab", ""]],
    ["^a", ["abc", "bac"]],
    ["c$", ["abc", "acb"]],
    ["^[a-z]*a$", ["banana", "bananab", "a", ""]],
    ["^a.c$", ["abc", "a\nc", "a\rc", "a\tc", "ac"]],
    ["^\\d+\\.\\d{2}$", ["12.50", "12.5", ".50", "1a.50"]],
    ["^[^0-9]+$", ["abc", "ab1", "", "\t"]],
    ["^\\w+@\\w+$", ["a@b", "a_b@c9", "a-b@c", "@c"]],
    ["^\\s*x\\s*$", [" x ", "\tx\n", "x", "y"]],
    ["^[-a]+$", ["-a-", "b"]],
    ["^[a-]+$", ["a-", "a-b"]],
    ["^[--z]+$", ["-./z", "!"]],
    ["^[a-z-9]+$", ["a-9", "5"]],
    ["^x?y*?z+$", ["z", "xz", "xyyz", "xx", "y"]],
    ["^[]$", ["", "a"]],
    ["^(a|b)$", ["a"]],
    ["^\\bx$", ["x"]],
    ["^a{2,}$", ["a", "aa", "aaaaa"]],
    ["^a{3}$", ["aaa", "aa", "aaaa"]],
    ["^[\\-\\]]$", ["-", "]"]],
  ];
  let compiled = 0;
  for (const [source, strings] of cases) {
    const pattern = AsciiPattern.compile(source);
    const regexp = new RegExp(source, "u");
    if (pattern === null) continue;
    compiled++;
    for (const text of strings) {
      const bytes = Buffer.from(text, "latin1");
      assert.is(pattern.matches(bytes, 0, bytes.length), regexp.test(text), `/${source}/ on ${JSON.stringify(text)}`);
    }
  }
  // Groups, alternation and word boundaries are left to RegExp; everything else above compiled.
  assert.is(compiled, cases.length - 2);
  assert.is(AsciiPattern.compile("^(a|b)$"), null);
  assert.is(AsciiPattern.compile("^\\bx$"), null);
});

test("patterns: generated patterns of classes and counts agree with RegExp on generated ASCII strings", () => {
  const next = random(7);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)];
  const atoms = ["a", "b", "-", ".", "\\d", "\\w", "\\s", "[a-c]", "[^a]", "[ab-]", "[0-9a-f]", "\\.", "x", " "];
  const counts = ["", "?", "*", "+", "{2}", "{0,3}", "{1,}", "*?", "+?"];
  const alphabet = "abcx-.0 9\tf\n_Z";
  let checked = 0;
  for (let n = 0; n < 400; n++) {
    let source = next() < 0.7 ? "^" : "";
    const length = 1 + Math.floor(next() * 4);
    for (let i = 0; i < length; i++) source += pick(atoms) + pick(counts);
    if (next() < 0.7) source += "$";
    const pattern = AsciiPattern.compile(source);
    assert.ok(pattern !== null, `compiles ${source}`);
    const regexp = new RegExp(source, "u");
    for (let k = 0; k < 40; k++) {
      let text = "";
      const size = Math.floor(next() * 8);
      for (let i = 0; i < size; i++) text += alphabet[Math.floor(next() * alphabet.length)];
      const bytes = Buffer.from(text, "latin1");
      const answer = pattern!.matches(bytes, 0, bytes.length);
      if (answer === undefined) continue;
      assert.is(answer, regexp.test(text), `/${source}/ on ${JSON.stringify(text)}`);
      checked++;
    }
  }
  assert.ok(checked > 15_000, `${checked} strings checked`);
});

test("patterns: a match that would backtrack without end is handed back (undefined), not answered slowly", () => {
  const pattern = AsciiPattern.compile("^a*a*a*a*a*a*b$")!;
  const bytes = Buffer.from("a".repeat(60));
  assert.is(pattern.matches(bytes, 0, bytes.length), undefined);
  const ok = Buffer.from("aaab");
  assert.is(pattern.matches(ok, 0, ok.length), true);
});

// ---------------------------------------------------------------------------------------------
// The scan: fixed vectors

const ORDER = {
  type: "object",
  required: ["item", "quantity"],
  properties: { item: { type: "string", pattern: "^[a-z][a-z0-9-]{0,31}$" }, quantity: { type: "integer", minimum: 1, maximum: 1000 } },
  additionalProperties: false,
};

/**
 * Each vector: a schema, a body, and what the scan must answer. `true`: it vouches (and the
 * reference accepts). `false`: it does not (whatever the reference says; the vector's comment says
 * which). Every vector also checks that the scan never vouches for what the reference refuses.
 */
const VECTORS: [string, unknown, string | Buffer, boolean][] = [
  ["a valid order", ORDER, '{"item":"widget","quantity":2}', true],
  ["whitespace of every kind JSON allows", ORDER, ' \t{ "item" :\r\n"widget" , "quantity" : 2 }\n', true],
  ["2.0 is an integer (JSON.parse makes it 2)", ORDER, '{"item":"widget","quantity":2.0}', true],
  ["2e0 and 1E3 are integers", ORDER, '{"item":"widget","quantity":1E3}', true],
  ["2.5 is not", ORDER, '{"item":"widget","quantity":2.5}', false],
  ["over the maximum", ORDER, '{"item":"widget","quantity":1001}', false],
  ["-0 is under the minimum of 1", ORDER, '{"item":"widget","quantity":-0}', false],
  ["a duplicate name whose last value is valid: accepted by the reference, left to it", ORDER, '{"item":"widget","quantity":0,"quantity":2}', false],
  ["a duplicate name whose last value is invalid", ORDER, '{"item":"widget","quantity":2,"quantity":0}', false],
  ["a required name missing", ORDER, '{"item":"widget"}', false],
  ["a name the closed object does not have", ORDER, '{"item":"widget","quantity":2,"x":1}', false],
  ["__proto__ as a name of a closed object", ORDER, '{"item":"widget","quantity":2,"__proto__":1}', false],
  ["an escaped name: accepted by the reference, left to it", ORDER, '{"\\u0069tem":"widget","quantity":2}', false],
  ["an escaped value, decoded for its pattern", ORDER, '{"item":"wid\\u0067et","quantity":2}', true],
  ["a value off its pattern", ORDER, '{"item":"Widget","quantity":2}', false],
  ["an escaped value off its pattern", ORDER, '{"item":"wid\\u0047et","quantity":2}', false],
  ["trailing bytes", ORDER, '{"item":"widget","quantity":2} x', false],
  ["a trailing comma", ORDER, '{"item":"widget","quantity":2,}', false],
  ["a byte order mark", ORDER, '\ufeff{"item":"widget","quantity":2}', false],
  ["cut short", ORDER, '{"item":"widget","quantity":2', false],
  ["a number cut short", ORDER, '{"item":"widget","quantity":2e}', false],
  ["a leading zero", ORDER, '{"item":"widget","quantity":02}', false],
  ["single quotes", ORDER, "{'item':'widget','quantity':2}", false],
  ["a raw tab inside a string", { type: "string" }, '"a\tb"', false],
  ["an unknown escape", { type: "string" }, '"a\\xb"', false],
  ["a short \\u escape", { type: "string" }, '"\\u00e"', false],
  ["two code points in four UTF-16 units fit maxLength 3", { type: "string", minLength: 2, maxLength: 3 }, '"😀😀"', true],
  ["escaped surrogate pairs count one each", { type: "string", minLength: 2, maxLength: 2 }, '"\\ud83d\\ude00\\ud83d\\ude00"', true],
  ["a lone escaped surrogate counts one", { type: "string", minLength: 2 }, '"\\ud83d"', false],
  ["two high surrogates count two", { type: "string", minLength: 2, maxLength: 2 }, '"\\ud83d\\ud83d"', true],
  ["a raw pair then an escaped low surrogate count two", { type: "string", minLength: 2, maxLength: 2 }, '"😀\\ude00"', true],
  ["two-byte characters count one each", { type: "string", minLength: 2, maxLength: 2 }, '"éé"', true],
  ["a non-ASCII value against a pattern", { type: "string", pattern: "^é+$" }, '"éé"', true],
  ["invalid UTF-8 (the decoder makes U+FFFD, accepted): left to the reference", { type: "string", minLength: 2 }, Buffer.from([0x22, 0xff, 0xfe, 0x22]), false],
  ["an overlong encoding", { type: "string" }, Buffer.from([0x22, 0xc0, 0xaf, 0x22]), false],
  ["an encoded surrogate", { type: "string" }, Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]), false],
  ["past U+10FFFF", { type: "string" }, Buffer.from([0x22, 0xf4, 0x90, 0x80, 0x80, 0x22]), false],
  ["a cut sequence", { type: "string" }, Buffer.from([0x22, 0xe2, 0x82, 0x22]), false],
  ["1e400 is Infinity, no number to TypeBox", { type: "number" }, "1e400", false],
  ["1e400 without a type passes the reference; left to it", { minimum: 3 }, "1e400", false],
  ["exclusiveMinimum", { type: "number", exclusiveMinimum: 0, maximum: 10 }, "0", false],
  ["exclusiveMinimum, above it", { type: "number", exclusiveMinimum: 0, maximum: 10 }, "1E1", true],
  ["number grammar: 1.", { type: "number" }, "1.", false],
  ["number grammar: .5", { type: "number" }, ".5", false],
  ["number grammar: -", { type: "number" }, "-", false],
  ["number grammar: +1", { type: "number" }, "+1", false],
  ["many digits round as JSON.parse rounds", { type: "number", maximum: 9007199254740992 }, "9007199254740993", true],
  ["a fraction rounds as JSON.parse rounds", { type: "number", minimum: 0.30000000000000004 }, "0.30000000000000004", true],
  ["keywords of other types do not apply", { minimum: 3, maxItems: 0, required: ["a"] }, '"x"', true],
  ["keywords of its type do", { minimum: 3, minLength: 5 }, '"x"', false],
  ["enum holds no objects", { enum: [1, 0] }, '{"a":1}', false],
  ["const holds no arrays", { const: 1 }, "[1]", false],
  ["enum: a string", { enum: ["a", "b", 1, null, true] }, '"a"', true],
  ["enum: 1.0 is 1", { enum: ["a", "b", 1, null, true] }, "1.0", true],
  ["enum: null", { enum: ["a", "b", 1, null, true] }, "null", true],
  ["enum: false is not in it", { enum: ["a", "b", 1, null, true] }, "false", false],
  ["enum: an escaped string", { enum: ["é"] }, '"\\u00e9"', true],
  ["const: -0 is 0", { const: 0 }, "-0", true],
  ["type lists", { type: ["string", "null"] }, "null", true],
  ["type lists, a type not in it", { type: ["string", "null"] }, "false", false],
  ["arrays: items and counts", { type: "array", items: { type: "integer" }, minItems: 1, maxItems: 3 }, "[1 , 2 ]", true],
  ["arrays: empty under minItems", { type: "array", items: { type: "integer" }, minItems: 1 }, "[ ]", false],
  ["arrays: over maxItems", { type: "array", maxItems: 3 }, "[1,2,3,4]", false],
  ["arrays: a trailing comma", { type: "array" }, "[1,]", false],
  ["arrays: items false", { type: "array", items: false }, "[]", true],
  ["arrays: items false, one item", { type: "array", items: false }, "[1]", false],
  ["anyOf, the second", { anyOf: [{ type: "string" }, { type: "integer", minimum: 5 }] }, "7", true],
  ["anyOf, none", { anyOf: [{ type: "string" }, { type: "integer", minimum: 5 }] }, "3", false],
  ["allOf", { type: "integer", allOf: [{ minimum: 2 }, { maximum: 5 }] }, "3", true],
  ["allOf, one fails", { type: "integer", allOf: [{ minimum: 2 }, { maximum: 5 }] }, "6", false],
  ["a delegated format and multipleOf, valid", { type: "object", properties: { email: { type: "string", format: "email" }, n: { type: "number", multipleOf: 0.5 } } }, '{"email":"a@b.co","n":1.5}', true],
  ["a delegated format, invalid", { type: "object", properties: { email: { type: "string", format: "email" } } }, '{"email":"nope"}', false],
  ["a delegated multipleOf, invalid", { type: "object", properties: { n: { type: "number", multipleOf: 0.5 } } }, '{"n":1.25}', false],
  ["oneOf matched twice", { type: "object", properties: { v: { oneOf: [{ type: "integer" }, { type: "number" }] } } }, '{"v":1}', false],
  ["an inherited name (toString) is left to TypeBox", { type: "object", properties: { a: { type: "object", properties: { toString: { type: "string" } } } } }, '{"a":{}}', false],
  ["a required inherited name", { type: "object", properties: { a: { type: "object", required: ["constructor"] } } }, '{"a":{"constructor":1}}', true],
  ["a non-ASCII name", { type: "object", required: ["näme"], properties: { näme: { type: "string" } }, additionalProperties: false }, '{"näme":"x"}', true],
  ["additionalProperties as a schema", { type: "object", properties: { a: { type: "integer" } }, additionalProperties: { type: "string" } }, '{"a":1,"b":"x","c":"y"}', true],
  ["additionalProperties as a schema, one off it", { type: "object", properties: { a: { type: "integer" } }, additionalProperties: { type: "string" } }, '{"a":1,"b":2}', false],
  ["required, not in properties, against additionalProperties", { type: "object", required: ["b"], additionalProperties: { type: "string" } }, '{"b":"x"}', true],
  ["nothing but whitespace", { type: "null" }, "  ", false],
  ["nothing at all", {}, "", false],
  ["annotations only", { title: "t", description: "d" }, '{"x":[1,{"y":null}]}', true],
  ["true", true, '"anything"', true],
  ["false", false, '"anything"', false],
];

test("scan: fixed vectors, each answered as stated, none vouched for against the reference", () => {
  for (const [name, schema, body, expected] of VECTORS) {
    const { scan, reference } = both(schema, body);
    if (scan === true) assert.ok(reference, `${name}: vouched, but the reference refuses`);
    assert.is(scan === true, expected, `${name}: scan ${scan}, reference ${reference}`);
  }
});

test("scan: an unconstrained value may nest as deep as JSON.parse allows; a schema's own depth is what recursion follows", () => {
  const schema = { type: "object", properties: { a: {} }, additionalProperties: true };
  const deep = `{"a":${"[".repeat(100_000)}${"]".repeat(100_000)},"b":${'{"c":'.repeat(50_000)}1${"}".repeat(50_000)}}`;
  assert.equal(both(schema, deep), { scan: true, reference: true });
  const crossed = `{"a":${"[".repeat(1000)}}${"]".repeat(999)}}`;
  assert.equal(both(schema, crossed), { scan: false, reference: false });
});

test("scan: schemas that refer across the document are not scanned; nor are those it would hand to TypeBox whole", () => {
  assert.is(JsonScan.compile({ $defs: { n: { type: "integer" } }, $ref: "#/$defs/n" }), null);
  assert.is(JsonScan.compile({ type: "object", properties: { a: { $ref: "#" } } }), null);
  assert.is(JsonScan.compile({ type: "array", unevaluatedItems: false }), null);
  assert.is(JsonScan.compile({ oneOf: [{ type: "integer" }, { type: "number" }] }), null);
  assert.ok(JsonScan.compile(ORDER) !== null);
});

test("scan: a 10 MB bulk body is vouched for; one element off the contract near its end is not, and is refused as before", () => {
  const schema = { type: "array", items: ORDER };
  const element = '{"item":"widget","quantity":5}';
  const count = Math.floor(10_000_000 / (element.length + 1));
  const good = Buffer.from(`[${Array.from({ length: count }, () => element).join(",")}]`);
  const bad = Buffer.from(good);
  bad.write("0", bad.length - 3, "latin1"); // the last quantity, 5 -> 0
  const compiled = new BodySchema(schema as never);
  assert.ok(compiled.scan!.vouches(good));
  assert.is(compiled.scan!.vouches(bad), false);
  assert.is(checkBody(compiled, MEDIA_JSON, good, "bulk"), null);
  const refusal = checkBody(compiled, MEDIA_JSON, bad, "bulk");
  assert.is(refusal?.status, 400);
  assert.match(refusal!.message, `${count - 1}/quantity must be >= 1`);
});

// ---------------------------------------------------------------------------------------------
// The scan: generated schemas and bodies

const PATTERNS = ["^[a-z][a-z0-9-]{0,7}$", "^[A-Z]{2}-[0-9]{2}$", "[0-9]", "^é?[a-c]*$", "^(ab|cd)$"];
const NAMES = ["a", "b", "item", "qty", "näme", "__proto__", "toString", "x-y", "a\"b"];

interface Gen {
  next: () => number;
  pick: <T>(items: readonly T[]) => T;
  chance: (p: number) => boolean;
  int: (n: number) => number;
}

function generator(seed: number): Gen {
  const next = random(seed);
  return {
    next,
    pick: (items) => items[Math.floor(next() * items.length)],
    chance: (p) => next() < p,
    int: (n) => Math.floor(next() * n),
  };
}

function genSchema(g: Gen, depth: number): unknown {
  const leafOnly = depth >= 3;
  const kind = g.int(leafOnly ? 6 : 12);
  const s: Record<string, unknown> = {};
  switch (kind) {
    case 0:
    case 1:
      s.type = "string";
      if (g.chance(0.3)) s.minLength = g.int(3);
      if (g.chance(0.3)) s.maxLength = 1 + g.int(6);
      if (g.chance(0.4)) s.pattern = g.pick(PATTERNS);
      if (g.chance(0.1)) s.enum = ["ab", "é", "x"];
      if (g.chance(0.05)) s.format = "email";
      break;
    case 2:
      s.type = g.pick(["integer", "number"]);
      if (g.chance(0.4)) s.minimum = g.int(5) - 2;
      if (g.chance(0.4)) s.maximum = 3 + g.int(100);
      if (g.chance(0.2)) s.exclusiveMinimum = -1;
      if (g.chance(0.2)) s.exclusiveMaximum = 50;
      if (g.chance(0.1)) s.multipleOf = 0.5;
      if (g.chance(0.1)) s.enum = [0, 1, 2.5];
      break;
    case 3:
      s.type = g.pick(["boolean", "null", ["string", "null"], ["integer", "boolean"]]);
      break;
    case 4:
      return g.pick([{}, true, false, { const: 1 }, { const: "a" }, { title: "t" }, { minimum: 2 }]);
    case 5:
      s.enum = [g.pick(["a", "é", 1, 2.5, true, null]), g.pick(["b", 0, false])];
      break;
    case 6:
    case 7:
      s.type = "array";
      if (g.chance(0.8)) s.items = genSchema(g, depth + 1);
      if (g.chance(0.3)) s.minItems = g.int(2);
      if (g.chance(0.3)) s.maxItems = 1 + g.int(4);
      if (g.chance(0.05)) s.uniqueItems = true;
      break;
    case 8:
    case 9:
    case 10: {
      s.type = "object";
      const properties: Record<string, unknown> = {};
      for (const name of NAMES) if (g.chance(0.3)) properties[name] = genSchema(g, depth + 1);
      s.properties = properties;
      const required = Object.keys(properties).filter(() => g.chance(0.5));
      if (required.length > 0) s.required = required;
      const extra = g.int(5);
      if (extra === 0) s.additionalProperties = false;
      else if (extra === 1) s.additionalProperties = genSchema(g, depth + 1);
      else if (extra === 2) s.additionalProperties = true;
      if (g.chance(0.05)) s.minProperties = 1;
      if (g.chance(0.05)) s.patternProperties = { "^x": { type: "integer" } };
      break;
    }
    default: {
      const combinator = g.pick(["anyOf", "anyOf", "allOf", "oneOf", "not"]);
      if (combinator === "not") s.not = genSchema(g, depth + 1);
      else s[combinator] = [genSchema(g, depth + 1), genSchema(g, depth + 1)];
    }
  }
  return s;
}

const STRINGS = ["", "a", "ab", "abc-d", "widget", "AB-12", "é", "éab", "😀", "a\"b", "a\\b", "line\nbreak", "x1", "ab", "cd", "a@b.co", "\u0000", "\ud83d"];

/** A value that tends to fit `schema` (so that most bodies are valid), sometimes not. */
function genValue(g: Gen, schema: unknown, depth = 0): unknown {
  if (g.chance(0.06) || depth > 6) return g.pick([0, 1.5, "a", null, true, [], {}]);
  if (schema === true || schema === false || typeof schema !== "object" || schema === null) return g.pick([1, "a", null, { a: [1] }]);
  const s = schema as Record<string, unknown>;
  if (Array.isArray(s.enum)) return g.pick(s.enum);
  if (s.const !== undefined) return s.const;
  const alternatives = (s.anyOf ?? s.oneOf ?? s.allOf) as unknown[] | undefined;
  if (alternatives !== undefined) return genValue(g, g.pick(alternatives), depth + 1);
  const type = Array.isArray(s.type) ? g.pick(s.type as string[]) : s.type;
  switch (type) {
    case "string":
      return g.pick(STRINGS);
    case "integer":
      return g.int(60) - 5;
    case "number":
      return g.pick([g.int(60) - 5, 0.5, 2.5, 1e-7, 12.25, -0]);
    case "boolean":
      return g.chance(0.5);
    case "null":
      return null;
    case "array":
      return Array.from({ length: g.int(4) }, () => genValue(g, s.items ?? {}, depth + 1));
    case "object": {
      const out: Record<string, unknown> = {};
      const properties = (s.properties ?? {}) as Record<string, unknown>;
      for (const name of Object.keys(properties)) if (g.chance(0.8)) out[name] = genValue(g, properties[name], depth + 1);
      if (g.chance(0.3)) out[g.pick(NAMES)] = genValue(g, s.additionalProperties ?? {}, depth + 1);
      return out;
    }
    default:
      return g.pick([1, "a", null, [1, "b"], { a: 1 }]);
  }
}

/** JSON for `value`, written in one of the many ways JSON allows (the reference reads them all alike). */
function serialize(g: Gen, value: unknown, style: { space: boolean; escape: boolean; numbers: boolean; duplicates: boolean }): string {
  const ws = () => (style.space && g.chance(0.3) ? g.pick([" ", "\n", "\t ", "\r\n"]) : "");
  const str = (text: string) => {
    let out = JSON.stringify(text);
    if (style.escape && g.chance(0.3) && out.length > 2) {
      const i = 1 + g.int(out.length - 2);
      const c = out.charCodeAt(i);
      // An ASCII letter becomes its \u escape (a character after a backslash is left alone).
      if (/[a-z0-9]/i.test(out[i]) && out[i - 1] !== "\\") out = `${out.slice(0, i)}\\u${c.toString(16).padStart(4, "0")}${out.slice(i + 1)}`;
    }
    return out;
  };
  const write = (v: unknown): string => {
    if (v === null || typeof v === "boolean") return String(v);
    if (typeof v === "number") {
      if (style.numbers && Number.isInteger(v) && g.chance(0.4)) return g.pick([`${v}.0`, `${v}e0`, `${v}0E-1`, `${v}.000`]);
      return Object.is(v, -0) ? "-0" : JSON.stringify(v);
    }
    if (typeof v === "string") return str(v);
    if (Array.isArray(v)) return `[${ws()}${v.map((x) => `${ws()}${write(x)}${ws()}`).join(",")}]`;
    const entries = Object.entries(v as object).map(([k, x]) => `${ws()}${str(k)}${ws()}:${ws()}${write(x)}`);
    if (style.duplicates && entries.length > 0 && g.chance(0.3)) entries.splice(g.int(entries.length), 0, `${str(Object.keys(v as object)[0])}:${write(g.pick([0, "a", null, 2]))}`);
    return `{${entries.join(",")}${ws()}}`;
  };
  return `${ws()}${write(value)}${ws()}`;
}

const INTERESTING = Buffer.from('"{}[],:\\0123456789eE.-+ \tntfu');

function mutate(g: Gen, bytes: Buffer): Buffer {
  let out = Buffer.from(bytes);
  for (let n = 1 + g.int(3); n > 0 && out.length > 0; n--) {
    const at = g.int(out.length);
    const op = g.int(5);
    const byte = g.chance(0.7) ? INTERESTING[g.int(INTERESTING.length)] : g.int(256);
    if (op === 0) out[at] = byte;
    else if (op === 1) out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1)]);
    else if (op === 2) out = Buffer.concat([out.subarray(0, at), Buffer.from([byte]), out.subarray(at)]);
    else if (op === 3) out = out.subarray(0, at);
    else out = Buffer.concat([out.subarray(0, at), out.subarray(at, at + 1 + g.int(4)), out.subarray(at)]);
  }
  return out;
}

test("scan: generated schemas, bodies written every way JSON allows, and their mutations: never vouched against the reference; every valid plain body vouched for", () => {
  const g = generator(Number(process.env.FARMHAND_SCAN_SEED ?? 20261203));
  let schemas = 0;
  let bodies = 0;
  let vouched = 0;
  let plainValid = 0;
  let plainVouched = 0;
  const missed: string[] = [];
  while (schemas < 1500) {
    const schema = genSchema(g, 0);
    const scan = JsonScan.compile(schema as never);
    if (scan === null) continue;
    schemas++;
    const validator = Compile(schema as never) as Validator;
    for (let k = 0; k < 12; k++) {
      const value = genValue(g, schema);
      const plain = k % 3 === 0;
      const text = plain
        ? JSON.stringify(value)
        : serialize(g, value, { space: g.chance(0.5), escape: g.chance(0.5), numbers: g.chance(0.5), duplicates: g.chance(0.3) });
      if (text === undefined) continue;
      const variants = [Buffer.from(text, "utf8"), mutate(g, Buffer.from(text, "utf8")), mutate(g, Buffer.from(text, "utf8"))];
      for (const [i, body] of variants.entries()) {
        bodies++;
        const says = scan.vouches(body);
        const reference = referenceAccepts(validator, body);
        if (says) {
          vouched++;
          assert.ok(reference, `vouched against the reference: schema ${JSON.stringify(schema)} body ${JSON.stringify(body.toString("latin1"))}`);
        }
        // A plain body (JSON.stringify's own output, unmutated) that the reference accepts is one the
        // scan should vouch for, unless a name needs an escape there (JSON.stringify escapes quotes).
        if (i === 0 && plain && reference && !/\\/.test(text.replace(/"(?:[^"\\]|\\.)*"\s*:/g, (key) => (key.includes("\\") ? "\\" : "")))) {
          plainValid++;
          if (says) plainVouched++;
          else if (missed.length < 5) missed.push(`schema ${JSON.stringify(schema)} body ${text}`);
        }
      }
    }
  }
  assert.ok(vouched > 5000, `${vouched} of ${bodies} bodies vouched for`);
  assert.ok(plainValid > 3000, `${plainValid} valid plain bodies`);
  assert.equal(missed, [], `${plainValid - plainVouched} valid plain bodies not vouched for`);
  if (process.env.FARMHAND_SCAN_SEED) console.log({ schemas, bodies, vouched, plainValid, plainVouched });
});

test.run();
