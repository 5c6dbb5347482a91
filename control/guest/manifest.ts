// The image manifest: `<image>/farmhand.json`, read here and nowhere else. Drivers read it to run an
// image, `farmhand gen` to generate typed contracts and roles from it, and the service kit to check
// that the code it serves says what the image says.
//
//   {
//     "name": "orders", "entry": "server.ts",
//     "provides": { "api": "orders@1" },
//     "requires": { "payments": "payments@1" },
//     "contracts": {
//       "orders@1": { "operations": { "place": { "method": "POST", "path": "/orders", "request": {...}, "response": {...} } } },
//       "payments@1": { ... }
//     }
//   }
//
//     "transport": { "pipelining": 8, "keepAliveTimeoutMs": 5000, "maxRequestsPerConnection": 0 }
//
// `contracts` holds every contract the image provides or requires, and no other. Request and response
// are JSON Schema in the subset schema-to-code.ts turns into TypeBox. A driver runs an image without
// `contracts`; gen needs it (requireContracts). `transport` (optional) says what the image's HTTP
// server handles, so the balancers in front of it can be set up for it without proxy configuration:
// how many pipelined requests it answers in order on one connection, how long it keeps an idle one,
// and how many requests it serves on one before closing it (0: no limit). Other top-level fields are left alone (the balancer's
// manifest says what it is for). Every error is a MetadataError naming the manifest file, the field
// path and the value found.

import { readFileSync, statSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { isDeepStrictEqual } from "node:util";
import type { AnyContract, AnyRole, HttpMethod } from "../contracts/index.ts";
import { MetadataError } from "../errors.ts";
import { checkSchema, fieldPath, SchemaError, show, type JsonSchema } from "../metadata/schema-to-code.ts";

export const MANIFEST_FILE = "farmhand.json";

export interface OperationMetadata {
  readonly method: HttpMethod;
  readonly path: string;
  readonly request: JsonSchema;
  readonly response: JsonSchema;
}

export interface ContractMetadata {
  /** "name@version". */
  readonly id: string;
  readonly name: string;
  readonly version: number;
  readonly operations: Readonly<Record<string, OperationMetadata>>;
}

export interface ImageManifest {
  /** The image folder as given. */
  readonly dir: string;
  /** The manifest file (dir/farmhand.json), as error messages name it. */
  readonly file: string;
  /** The role name. */
  readonly name: string;
  /** The entry file, relative to the image folder; a VM runs `node <entry>` there. */
  readonly entry: string;
  /** Endpoint name -> contract id. */
  readonly provides: Readonly<Record<string, string>>;
  /** Import name -> contract id. */
  readonly requires: Readonly<Record<string, string>>;
  /**
   * Contract id -> its definition: every contract the image provides or requires. Empty when the
   * manifest has no `contracts` section (which only requireContracts refuses).
   */
  readonly contracts: Readonly<Record<string, ContractMetadata>>;
  /** What the image's HTTP server handles; null when the manifest does not say. */
  readonly transport: TransportHints | null;
}

/** What an image's HTTP server handles, as its manifest declares it. */
export interface TransportHints {
  /** Requests it answers in order on one connection at once (1: one at a time, no pipelining). */
  readonly pipelining: number;
  /** How long it keeps an idle connection open, in ms; null when not said. */
  readonly keepAliveTimeoutMs: number | null;
  /** Requests it serves on one connection before closing it (0: no limit). */
  readonly maxRequestsPerConnection: number;
}

const TRANSPORT_KEYS = ["pipelining", "keepAliveTimeoutMs", "maxRequestsPerConnection"];

export interface ReadManifestOptions {
  /** Refuse a manifest without a `contracts` section (gen needs one; a driver can run without). */
  readonly requireContracts?: boolean;
}

const METHODS: readonly HttpMethod[] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
// The same rules contract() and role() apply at run time, checked here so that what a manifest says
// can become code, and an image whose manifest would not is refused before it runs.
const CONTRACT_ID = /^([a-z][a-z0-9-]{0,62})@([1-9][0-9]{0,5})$/;
const OP_PATH = /^\/[A-Za-z0-9._~\-/{}]*$/;
const ROLE_NAME = /^[a-z][a-z0-9-]{0,40}$/;
const RESERVED = ["id", "role", "name", "address", "labels"];

/** Reads and checks `<dir>/farmhand.json`. */
export async function readManifest(dir: string, options: ReadManifestOptions = {}): Promise<ImageManifest> {
  const file = path.join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    return unreadable(file, err);
  }
  const manifest = parseManifest(dir, file, text, options);
  const entryPath = path.resolve(dir, manifest.entry);
  if (!(await stat(entryPath).then((s) => s.isFile(), () => false))) return entryMissing(file, manifest.entry);
  return manifest;
}

/** readManifest for code that must not wait: a service reading its own image at start. */
export function readManifestSync(dir: string, options: ReadManifestOptions = {}): ImageManifest {
  const file = path.join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    return unreadable(file, err);
  }
  const manifest = parseManifest(dir, file, text, options);
  const entryPath = path.resolve(dir, manifest.entry);
  let isFile = false;
  try {
    isFile = statSync(entryPath).isFile();
  } catch {}
  if (!isFile) return entryMissing(file, manifest.entry);
  return manifest;
}

function unreadable(file: string, err: unknown): never {
  const code = (err as NodeJS.ErrnoException).code;
  throw new MetadataError(`${file}: ${code === "ENOENT" ? "is missing (no manifest in the image folder)" : `cannot be read (${code ?? String(err)})`}`);
}

function entryMissing(file: string, entry: string): never {
  throw new MetadataError(`${file}: entry: expected a file in the image folder (got ${show(entry)})`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

interface Fail {
  readonly fail: (field: string, message: string) => never;
  readonly expect: (field: string, what: string, value: unknown) => never;
}

/** Checks a manifest's text: everything but whether its entry file exists. */
function parseManifest(dir: string, file: string, text: string, options: ReadManifestOptions): ImageManifest {
  const fail = (field: string, message: string): never => {
    throw new MetadataError(`${file}: ${field === "" ? "" : `${field}: `}${message}`);
  };
  const expect = (field: string, what: string, value: unknown): never => fail(field, `expected ${what} (got ${show(value)})`);

  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return fail("", `is not valid JSON (${(err as Error).message})`);
  }
  if (!isRecord(raw)) return fail("", `expected a JSON object (got ${show(raw)})`);

  const name = raw.name;
  if (name === undefined) fail("name", 'is missing ("name" is the role name, e.g. "orders")');
  if (typeof name !== "string" || !ROLE_NAME.test(name)) {
    expect("name", 'a role name: lower-case letters, digits and "-", starting with a letter', name);
  }
  const entry = raw.entry;
  if (entry === undefined) fail("entry", 'is missing ("entry" names the file the VM runs, e.g. "server.ts")');
  if (typeof entry !== "string" || entry === "") expect("entry", "the entry file, a non-empty string", entry);
  const entryPath = path.resolve(dir, entry as string);
  if (path.isAbsolute(entry as string) || !entryPath.startsWith(path.resolve(dir) + path.sep)) {
    expect("entry", "a path inside the image folder", entry);
  }

  const table = (field: "provides" | "requires"): Record<string, string> => {
    const value = raw[field];
    if (value === undefined) return {};
    if (!isRecord(value)) return expect(field, "an object of name -> contract id", value);
    for (const [key, id] of Object.entries(value)) {
      if (typeof id !== "string" || !CONTRACT_ID.test(id)) expect(fieldPath(field, key), 'a contract id "name@version"', id);
      if (field === "provides" && RESERVED.includes(key)) {
        fail(fieldPath(field, key), `the endpoint name ${JSON.stringify(key)} is reserved (${RESERVED.join(", ")})`);
      }
    }
    return { ...(value as Record<string, string>) };
  };
  const provides = table("provides");
  const requires = table("requires");

  const section = raw.contracts;
  const contracts: Record<string, ContractMetadata> = {};
  if (section === undefined) {
    if (options.requireContracts) fail("contracts", "is missing: it must define every contract the image provides or requires");
  } else {
    if (!isRecord(section)) return expect("contracts", "an object of contract id -> { operations }", section);
    for (const [id, def] of Object.entries(section)) {
      const at = fieldPath("contracts", id);
      const match = CONTRACT_ID.exec(id);
      if (match === null) fail("contracts", `expected contract ids "name@version", e.g. "orders@1" (got ${show(id)})`);
      contracts[id] = readContract(id, def, at, match!, { fail, expect });
    }
    const used = new Set<string>();
    for (const field of ["provides", "requires"] as const) {
      for (const [key, id] of Object.entries(field === "provides" ? provides : requires)) {
        used.add(id);
        if (!Object.hasOwn(contracts, id)) fail(fieldPath(field, key), `contract ${JSON.stringify(id)} is not defined in "contracts"`);
      }
    }
    for (const id of Object.keys(contracts)) {
      if (!used.has(id)) fail(fieldPath("contracts", id), "is neither provided nor required by the image (remove it, or name it in provides/requires)");
    }
  }
  const transport = readTransport(raw.transport, { fail, expect });
  return { dir, file, name: name as string, entry: entry as string, provides, requires, contracts, transport };
}

function readTransport(raw: unknown, { fail, expect }: Fail): TransportHints | null {
  if (raw === undefined) return null;
  if (!isRecord(raw)) return expect("transport", "an object { pipelining, keepAliveTimeoutMs, maxRequestsPerConnection }", raw);
  for (const key of Object.keys(raw)) {
    if (!TRANSPORT_KEYS.includes(key)) fail(fieldPath("transport", key), `unknown field (transport has ${TRANSPORT_KEYS.join(", ")})`);
  }
  const int = (key: string, min: number, max: number, fallback: number | null): number | null => {
    const value = raw[key];
    if (value === undefined) return fallback;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      expect(fieldPath("transport", key), `an integer between ${min} and ${max}`, value);
    }
    return value as number;
  };
  return {
    pipelining: int("pipelining", 1, 64, 1)!,
    keepAliveTimeoutMs: int("keepAliveTimeoutMs", 1, 2 ** 31 - 1, null),
    maxRequestsPerConnection: int("maxRequestsPerConnection", 0, Number.MAX_SAFE_INTEGER, 0)!,
  };
}

function readContract(id: string, def: unknown, at: string, match: RegExpExecArray, { fail, expect }: Fail): ContractMetadata {
  if (!isRecord(def)) return expect(at, "an object { operations }", def);
  for (const key of Object.keys(def)) if (key !== "operations") fail(fieldPath(at, key), `unknown field (a contract has only "operations")`);
  const ops = def.operations;
  const opsAt = fieldPath(at, "operations");
  if (!isRecord(ops) || Object.keys(ops).length === 0) return expect(opsAt, "an object of operation name -> { method, path, request, response }", ops);
  const operations: Record<string, OperationMetadata> = {};
  const routes = new Map<string, string>();
  for (const [opName, op] of Object.entries(ops)) {
    const opAt = fieldPath(opsAt, opName);
    if (!isRecord(op)) return expect(opAt, "an object { method, path, request, response }", op);
    for (const key of Object.keys(op)) {
      if (!["method", "path", "request", "response"].includes(key)) fail(fieldPath(opAt, key), "unknown field (an operation has method, path, request, response)");
    }
    if (typeof op.method !== "string" || !(METHODS as readonly string[]).includes(op.method)) {
      expect(fieldPath(opAt, "method"), `one of ${METHODS.join(", ")}`, op.method);
    }
    if (typeof op.path !== "string" || !OP_PATH.test(op.path)) expect(fieldPath(opAt, "path"), 'a path starting with "/"', op.path);
    const route = `${op.method as string} ${op.path as string}`;
    const other = routes.get(route);
    if (other !== undefined) fail(opAt, `${route} is also operation ${JSON.stringify(other)}`);
    routes.set(route, opName);
    for (const part of ["request", "response"] as const) {
      const partAt = fieldPath(opAt, part);
      if (op[part] === undefined) fail(partAt, `is missing (a JSON Schema; use {"type":"null"} for no body)`);
      try {
        checkSchema(op[part], partAt);
      } catch (err) {
        if (err instanceof SchemaError) fail("", err.message);
        throw err;
      }
    }
    operations[opName] = { method: op.method as HttpMethod, path: op.path as string, request: op.request as JsonSchema, response: op.response as JsonSchema };
  }
  return { id, name: match[1], version: Number(match[2]), operations };
}

/** The first place two JSON values differ, as a field path, or null when they are equal. */
export function firstDifference(a: unknown, b: unknown, at: string): string | null {
  if (isDeepStrictEqual(a, b)) return null;
  if (isRecord(a) && isRecord(b)) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const d = firstDifference(a[key], b[key], fieldPath(at, key));
      if (d !== null) return d;
    }
    return at;
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    for (let i = 0; i < a.length; i++) {
      const d = firstDifference(a[i], b[i], `${at}[${i}]`);
      if (d !== null) return d;
    }
  }
  return at;
}

/** One way a role (code) and its image's manifest disagree. */
export type Disagreement =
  | { readonly kind: "name"; readonly manifest: string; readonly role: string }
  | { readonly kind: "provides" | "requires"; readonly key: string; readonly manifest: string | undefined; readonly role: string | undefined }
  /** A contract both name whose operations differ; `at` is the manifest's field path of the first difference. */
  | { readonly kind: "operations"; readonly id: string; readonly at: string };

/** Contract ids by name, as a manifest writes them. */
const idsOf = (contracts: Readonly<Record<string, AnyContract>>): Record<string, string> =>
  Object.fromEntries(Object.entries(contracts).map(([k, c]) => [k, c.id]));

/**
 * Every way a role and its image's manifest disagree, in the order the service kit checks them: the
 * name, what is provided and required (by name), and, when the manifest defines its contracts, each
 * contract's operations and schemas. The kit refuses to serve on the first (service.ts); `farmhand
 * check` reports them all before anything runs.
 */
export function roleDisagreements(role: AnyRole, manifest: ImageManifest): Disagreement[] {
  const found: Disagreement[] = [];
  if (manifest.name !== role.name) found.push({ kind: "name", manifest: manifest.name, role: role.name });
  for (const what of ["provides", "requires"] as const) {
    const code = idsOf(role[what]);
    for (const key of new Set([...Object.keys(code), ...Object.keys(manifest[what])])) {
      if (code[key] !== manifest[what][key]) found.push({ kind: what, key, manifest: manifest[what][key], role: code[key] });
    }
  }
  if (Object.keys(manifest.contracts).length === 0) return found;
  for (const contract of new Set([...Object.values(role.provides), ...Object.values(role.requires)])) {
    const defined = manifest.contracts[contract.id];
    if (defined === undefined) continue; // named by no provides or requires entry: reported above
    const at = `contracts[${JSON.stringify(contract.id)}].operations`;
    const diff = firstDifference(JSON.parse(JSON.stringify(contract.operations)) as unknown, defined.operations, at);
    if (diff !== null) found.push({ kind: "operations", id: contract.id, at: diff });
  }
  return found;
}
