// JSON Schema (as it travels in image manifests) -> TypeBox source code. Covers the subset the contracts
// use and TypeBox emits: object, string, integer, number, boolean, null, array, anyOf (Type.Union),
// const (Type.Literal), enum (a union of literals) and {} (Type.Unknown), with their keyword options.
// Anything else is refused with the place it was found, so a manifest never silently loses a keyword.

/** A JSON Schema as parsed from JSON. */
export type JsonSchema = { readonly [keyword: string]: unknown };

/** A schema (or one of its keywords) this generator cannot express; `where` is a field path. */
export class SchemaError extends Error {
  override name = "SchemaError";
  readonly where: string;
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.where = where;
  }
}

// ---------------------------------------------------------------------------------------------------
// Field paths and value display

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `base.key` or `base["odd key"]`. */
export function fieldPath(base: string, key: string): string {
  const step = IDENTIFIER.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
  return base === "" ? (step.startsWith(".") ? step.slice(1) : step) : `${base}${step}`;
}

/** A value as an error message shows it: JSON, shortened. */
export function show(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// ---------------------------------------------------------------------------------------------------
// Code layout: a call whose arguments go on one line when they fit, else one per line.

type Code = string | Group;
interface Group {
  readonly open: string;
  readonly items: readonly { readonly prefix: string; readonly code: Code }[];
  readonly close: string;
  /** Spaces inside the brackets when on one line (`{ a }`), none for arrays (`[a]`). */
  readonly pad: boolean;
}

const WIDTH = 110;

function flat(code: Code): string {
  if (typeof code === "string") return code;
  if (code.items.length === 0) return `${code.open}${code.close}`;
  const inner = code.items.map((i) => `${i.prefix}${flat(i.code)}`).join(", ");
  return code.pad ? `${code.open} ${inner} ${code.close}` : `${code.open}${inner}${code.close}`;
}

/** Lays `code` out for a line that already holds `column` characters, at indentation `indent`. */
export function layout(code: Code, indent: number, column = indent): string {
  const one = flat(code);
  if (typeof code === "string" || column + one.length <= WIDTH || code.items.length === 0) return one;
  const pad = " ".repeat(indent + 2);
  const lines = code.items.map((i) => `${pad}${i.prefix}${layout(i.code, indent + 2, indent + 2 + i.prefix.length)},`);
  return `${code.open}\n${lines.join("\n")}\n${" ".repeat(indent)}${code.close}`;
}

/** A property key as source: `name` or `"odd-name"`. */
export function keyCode(key: string): string {
  return IDENTIFIER.test(key) ? key : JSON.stringify(key);
}

function objectCode(entries: readonly [string, Code][], open = "{", close = "}"): Group {
  return { open, close, pad: true, items: entries.map(([k, code]) => ({ prefix: `${keyCode(k)}: `, code })) };
}

/** Keyword options as a source object literal, `{ minimum: 1 }`, or "" when there are none. */
function optionsCode(options: readonly [string, unknown][]): string {
  if (options.length === 0) return "";
  return `{ ${options.map(([k, v]) => `${keyCode(k)}: ${JSON.stringify(v)}`).join(", ")} }`;
}

// ---------------------------------------------------------------------------------------------------
// Keywords

type Check = (value: unknown) => string | null;
const nonNegativeInteger: Check = (v) => (Number.isInteger(v) && (v as number) >= 0 ? null : "expected a non-negative integer");
const finiteNumber: Check = (v) => (typeof v === "number" && Number.isFinite(v) ? null : "expected a number");
const positiveNumber: Check = (v) => (typeof v === "number" && Number.isFinite(v) && v > 0 ? null : "expected a positive number");
const text: Check = (v) => (typeof v === "string" ? null : "expected a string");
const bool: Check = (v) => (typeof v === "boolean" ? null : "expected true or false");
const anything: Check = (v) => (v === undefined ? "expected a value" : null);
const regex: Check = (v) => {
  if (typeof v !== "string") return "expected a regular expression string";
  try {
    new RegExp(v, "u");
    return null;
  } catch (err) {
    return `expected a valid regular expression (${(err as Error).message})`;
  }
};

/** Options every schema may carry. */
const COMMON: Record<string, Check> = { description: text, title: text, default: anything };
const STRING: Record<string, Check> = { ...COMMON, minLength: nonNegativeInteger, maxLength: nonNegativeInteger, pattern: regex, format: text };
const NUMBER: Record<string, Check> = {
  ...COMMON,
  minimum: finiteNumber,
  maximum: finiteNumber,
  exclusiveMinimum: finiteNumber,
  exclusiveMaximum: finiteNumber,
  multipleOf: positiveNumber,
};
const ARRAY: Record<string, Check> = { ...COMMON, minItems: nonNegativeInteger, maxItems: nonNegativeInteger, uniqueItems: bool };
const OBJECT: Record<string, Check> = { ...COMMON, minProperties: nonNegativeInteger, maxProperties: nonNegativeInteger };

/** Checks the remaining keywords of `schema` against `allowed` and returns them as options, in order. */
function takeOptions(schema: JsonSchema, where: string, handled: readonly string[], allowed: Record<string, Check>): [string, unknown][] {
  const options: [string, unknown][] = [];
  for (const [key, value] of Object.entries(schema)) {
    if (handled.includes(key)) continue;
    const check = Object.hasOwn(allowed, key) ? allowed[key] : undefined;
    if (check === undefined) {
      const kind = typeof schema.type === "string" ? ` on a schema of type ${schema.type}` : "";
      throw new SchemaError(where, `unsupported keyword ${JSON.stringify(key)}${kind}`);
    }
    const problem = check(value);
    if (problem !== null) throw new SchemaError(fieldPath(where, key), `${problem} (got ${show(value)})`);
    options.push([key, value]);
  }
  return options;
}

function call(fn: string, args: readonly string[]): string {
  return `Type.${fn}(${args.filter((a) => a !== "").join(", ")})`;
}

type LiteralValue = string | number | boolean;
function literalCode(value: unknown, where: string, options: string): string {
  if (typeof value !== "string" && typeof value !== "boolean" && !(typeof value === "number" && Number.isFinite(value))) {
    throw new SchemaError(where, `expected a string, number or boolean literal (got ${show(value)})`);
  }
  return call("Literal", [JSON.stringify(value as LiteralValue), options]);
}

/** A literal's JSON Schema type may be stated, and then must agree with the value. */
function checkLiteralType(schema: JsonSchema, value: unknown, where: string): void {
  if (schema.type === undefined) return;
  const ok =
    (schema.type === "string" && typeof value === "string") ||
    (schema.type === "boolean" && typeof value === "boolean") ||
    (schema.type === "number" && typeof value === "number") ||
    (schema.type === "integer" && Number.isInteger(value));
  if (!ok) throw new SchemaError(fieldPath(where, "type"), `does not agree with the literal ${show(value)} (got ${show(schema.type)})`);
}

// ---------------------------------------------------------------------------------------------------
// The translation

function toCode(input: unknown, where: string): Code {
  if (!isRecord(input)) throw new SchemaError(where, `expected a JSON Schema object (got ${show(input)})`);
  const schema = input as JsonSchema;

  if (schema.anyOf !== undefined) {
    const members = schema.anyOf;
    if (!Array.isArray(members) || members.length === 0) {
      throw new SchemaError(fieldPath(where, "anyOf"), `expected a non-empty array of schemas (got ${show(members)})`);
    }
    const options = optionsCode(takeOptions(schema, where, ["anyOf"], COMMON));
    const items = members.map((m, i) => ({ prefix: "", code: toCode(m, `${where}.anyOf[${i}]`) }));
    return { open: "Type.Union([", items, close: options === "" ? "])" : `], ${options})`, pad: false };
  }

  if (schema.enum !== undefined) {
    const values = schema.enum;
    if (!Array.isArray(values) || values.length === 0) {
      throw new SchemaError(fieldPath(where, "enum"), `expected a non-empty array of literals (got ${show(values)})`);
    }
    values.forEach((v, i) => checkLiteralType(schema, v, `${where}.enum[${i}]`));
    const options = optionsCode(takeOptions(schema, where, ["enum", "type"], COMMON));
    if (values.length === 1) return literalCode(values[0], `${where}.enum[0]`, options);
    const items = values.map((v, i) => ({ prefix: "", code: literalCode(v, `${where}.enum[${i}]`, "") }));
    return { open: "Type.Union([", items, close: options === "" ? "])" : `], ${options})`, pad: false };
  }

  if (schema.const !== undefined) {
    checkLiteralType(schema, schema.const, where);
    const options = optionsCode(takeOptions(schema, where, ["const", "type"], COMMON));
    return literalCode(schema.const, fieldPath(where, "const"), options);
  }

  switch (schema.type) {
    case undefined: {
      // No type and no other constraint: any JSON value.
      return call("Unknown", [optionsCode(takeOptions(schema, where, [], COMMON))]);
    }
    case "string":
      return call("String", [optionsCode(takeOptions(schema, where, ["type"], STRING))]);
    case "integer":
      return call("Integer", [optionsCode(takeOptions(schema, where, ["type"], NUMBER))]);
    case "number":
      return call("Number", [optionsCode(takeOptions(schema, where, ["type"], NUMBER))]);
    case "boolean":
      return call("Boolean", [optionsCode(takeOptions(schema, where, ["type"], COMMON))]);
    case "null":
      return call("Null", [optionsCode(takeOptions(schema, where, ["type"], COMMON))]);
    case "array": {
      if (schema.items === undefined) throw new SchemaError(fieldPath(where, "items"), "an array schema needs items (got nothing)");
      const items = toCode(schema.items, fieldPath(where, "items"));
      const options = optionsCode(takeOptions(schema, where, ["type", "items"], ARRAY));
      return { open: "Type.Array(", items: [{ prefix: "", code: items }], close: options === "" ? ")" : `, ${options})`, pad: false };
    }
    case "object":
      return objectSchemaCode(schema, where);
    default:
      throw new SchemaError(fieldPath(where, "type"), `unsupported type (got ${show(schema.type)}); expected one of string, integer, number, boolean, null, array, object`);
  }
}

function objectSchemaCode(schema: JsonSchema, where: string): Code {
  const properties = schema.properties ?? {};
  if (!isRecord(properties)) throw new SchemaError(fieldPath(where, "properties"), `expected an object of schemas (got ${show(properties)})`);
  const required = schema.required ?? [];
  if (!Array.isArray(required) || !required.every((r) => typeof r === "string")) {
    throw new SchemaError(fieldPath(where, "required"), `expected an array of property names (got ${show(required)})`);
  }
  required.forEach((name, i) => {
    if (!Object.hasOwn(properties, name)) throw new SchemaError(`${where}.required[${i}]`, `names no property (got ${show(name)})`);
    if (required.indexOf(name) !== i) throw new SchemaError(`${where}.required[${i}]`, `names a property twice (got ${show(name)})`);
  });
  const extra = schema.additionalProperties;
  if (extra !== undefined && typeof extra !== "boolean") {
    throw new SchemaError(fieldPath(where, "additionalProperties"), `only true or false is supported (got ${show(extra)})`);
  }
  const options = takeOptions(schema, where, ["type", "properties", "required", "additionalProperties"], OBJECT);
  if (extra !== undefined) options.unshift(["additionalProperties", extra]);

  const entries: [string, Code][] = Object.entries(properties).map(([name, sub]) => {
    const code = toCode(sub, fieldPath(fieldPath(where, "properties"), name));
    if (required.includes(name)) return [name, code];
    return [name, { open: "Type.Optional(", items: [{ prefix: "", code }], close: ")", pad: false }];
  });
  const opts = optionsCode(options);
  return objectCode(entries, "Type.Object({", opts === "" ? "})" : `}, ${opts})`);
}

/**
 * TypeBox source code for a JSON Schema, laid out for a line at `indent` that already holds `column`
 * characters. Throws SchemaError naming the field path (`where`, e.g. `operations.place.request`) of
 * the first keyword it cannot express.
 */
export function schemaToCode(schema: unknown, where = "schema", indent = 0, column = indent): string {
  return layout(toCode(schema, where), indent, column);
}

/** Checks a schema can be expressed, without keeping the code. */
export function checkSchema(schema: unknown, where: string): void {
  toCode(schema, where);
}

/** The layout helpers, for modules that print code around schemas. */
export { type Code, type Group, objectCode };
