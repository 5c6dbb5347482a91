// Turns configuration text or a plain object into a validated, defaulted, deeply frozen ProxyConfig.
// Validation stops at the first problem and reports it as a ConfigError naming the file, the field
// path (e.g. "pools[0].backends[2].port") and the offending value, so an operator can fix it without
// reading this code.

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { BlockList, isIP } from "node:net";
import { availableParallelism } from "node:os";
import { dirname, extname, resolve } from "node:path";
import { createRequire } from "node:module";
import type {
  AdminConfig,
  BackendConfig,
  HashKey,
  HealthCheckOptions,
  HttpLimits,
  JsonSchema,
  ListenerConfig,
  OperationSpec,
  OutlierDetectionOptions,
  PolicyName,
  PoolConfig,
  Protocol,
  ProxyConfig,
  UpstreamOptions,
  ValidationConfig,
  ValidationPoolOptions,
} from "./config.ts";
import {
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_HEALTH_CHECK,
  DEFAULT_INLINE_BODY_BYTES,
  DEFAULT_MAX_VALIDATED_BODY_BYTES,
  DEFAULT_VALIDATION_POOL,
  MAX_VALIDATED_LISTENERS,
  MAX_VALIDATED_OPERATIONS,
  DEFAULT_HTTP_LIMITS,
  DEFAULT_OUTLIER_DETECTION,
  DEFAULT_UPSTREAM,
  ROUTE_PREFIX,
} from "./config.ts";
import { ConfigError } from "./errors.ts";
import { isLoopback } from "./net/address.ts";

// ---------------------------------------------------------------------------------------------
// Entry points

/** Parses JSON (.json), YAML (.yaml/.yml) or, for any other name, JSON and failing that YAML. */
export function parseConfigText(text: string, file: string): ProxyConfig {
  return normalizeConfig(parseText(stripBom(text), file), file);
}

export async function loadConfigFile(path: string): Promise<ProxyConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new ConfigError(path, "(root)", path, `cannot read the configuration file: ${errorMessage(error)}`);
  }
  return parseConfigText(text, path);
}

/**
 * Validates a parsed configuration and fills in defaults. `file` is used in error messages and, unless
 * it is a placeholder such as "<inline>", as the directory that admin.tokenFile is relative to.
 * Normalising an already normalised config gives an equal config.
 */
export function normalizeConfig(raw: unknown, file: string): ProxyConfig {
  const ctx = contextFor(file);
  const o = objectWithKeys(ctx, "", raw, TOP_LEVEL_KEYS, "a configuration object");
  const workers = integer(ctx, "workers", get(o, "workers"), WORKERS, defaultWorkers());
  const drainTimeoutMs = integer(ctx, "drainTimeoutMs", get(o, "drainTimeoutMs"), TIMER_MS_OR_ZERO, DEFAULT_DRAIN_TIMEOUT_MS);
  const pools = poolList(ctx, "pools", get(o, "pools"));
  const listeners = listenerList(ctx, "listeners", get(o, "listeners"), pools);
  const http = httpLimits(ctx, "http", get(o, "http"));
  const admin = adminConfig(ctx, "admin", get(o, "admin"), listeners);
  const validation = validationPool(ctx, "validation", get(o, "validation"));
  return deepFreeze({ workers, drainTimeoutMs, listeners, pools, http, admin, validation });
}

/**
 * Validates a pool's backend list given at run time (the admin API's "replace backends").
 * Errors name the file "<inline>" and paths under `where`, e.g. "body[1].port".
 */
export function normalizePoolBackends(raw: unknown, where: string): BackendConfig[] {
  return deepFreeze(backendList(contextFor("<inline>"), where, raw));
}

// ---------------------------------------------------------------------------------------------
// Text parsing

function parseText(text: string, file: string): unknown {
  const ext = extname(file).toLowerCase();
  if (ext === ".json") return parseJsonText(text, file);
  if (ext === ".yaml" || ext === ".yml") return parseYamlText(text, file);
  try {
    return JSON.parse(text);
  } catch {
    // Fall through to YAML, which accepts JSON-like text too.
  }
  try {
    return parseYamlText(text, file);
  } catch (yamlError) {
    // Text that opens like JSON was almost certainly meant as JSON, and the JSON error reads better.
    if (/^\s*[{[]/.test(text)) parseJsonText(text, file);
    throw yamlError;
  }
}

function parseJsonText(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    // V8's messages do not always carry a position, so find the first error ourselves.
    const found = locateJsonError(text) ?? { offset: 0, problem: errorMessage(error) };
    throw syntaxError(file, "JSON", text, found.offset, found.problem);
  }
}

// The YAML parser costs a running proxy ~13 MB, so it is loaded only when a YAML file is read.
const requireLazily = createRequire(import.meta.url);
type YamlModule = typeof import("yaml");

function parseYamlText(text: string, file: string): unknown {
  const yaml = requireLazily("yaml") as YamlModule;
  try {
    return yaml.parse(text, { prettyErrors: false });
  } catch (error) {
    if (error instanceof yaml.YAMLParseError) throw syntaxError(file, "YAML", text, error.pos[0], error.message);
    // e.g. the alias-expansion guard against "billion laughs" documents
    throw new ConfigError(file, "(root)", undefined, `invalid YAML: ${errorMessage(error)}`);
  }
}

function syntaxError(file: string, syntax: string, text: string, offset: number, problem: string): ConfigError {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const lineStart = before.lastIndexOf("\n") + 1;
  const lineEnd = text.indexOf("\n", lineStart);
  const lineText = text.slice(lineStart, lineEnd === -1 ? text.length : lineEnd).replace(/\r$/, "");
  const column = offset - lineStart + 1;
  return new ConfigError(file, "(root)", lineText, `invalid ${syntax} at line ${line}, column ${column}: ${problem}`);
}

/** Offset and description of the first JSON syntax error in `text`, or null when none is found. */
function locateJsonError(text: string): { offset: number; problem: string } | null {
  let i = 0;
  const fault = (at: number): never => {
    throw { offset: at, problem: at >= text.length ? "unexpected end of input" : `unexpected ${JSON.stringify(text[at])}` };
  };
  const skipSpace = (): void => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const expect = (char: string): void => {
    skipSpace();
    if (text[i] !== char) fault(i);
    i++;
  };
  const str = (): void => {
    i++;
    for (;;) {
      if (i >= text.length || text.charCodeAt(i) < 0x20) fault(i);
      const c = text[i];
      if (c === '"') return void i++;
      if (c !== "\\") i++;
      else if ('"\\/bfnrt'.includes(text[i + 1] ?? "")) i += 2;
      else if (text[i + 1] === "u" && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) i += 6;
      else fault(i + 1);
    }
  };
  const value = (): void => {
    skipSpace();
    const c = text[i];
    if (c === "{") {
      i++;
      skipSpace();
      if (text[i] === "}") return void i++;
      for (;;) {
        skipSpace();
        if (text[i] !== '"') fault(i);
        str();
        expect(":");
        value();
        skipSpace();
        if (text[i] === "}") return void i++;
        expect(",");
      }
    }
    if (c === "[") {
      i++;
      skipSpace();
      if (text[i] === "]") return void i++;
      for (;;) {
        value();
        skipSpace();
        if (text[i] === "]") return void i++;
        expect(",");
      }
    }
    if (c === '"') return str();
    for (const word of ["true", "false", "null"]) {
      if (text.startsWith(word, i)) return void (i += word.length);
    }
    const number = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
    number.lastIndex = i;
    if (number.exec(text) === null) fault(i);
    i = number.lastIndex;
  };
  try {
    value();
    skipSpace();
    if (i < text.length) fault(i);
    return null;
  } catch (found) {
    if (found instanceof Error) return null; // too deeply nested to scan; use V8's message
    return found as { offset: number; problem: string };
  }
}

// ---------------------------------------------------------------------------------------------
// Sections

const TOP_LEVEL_KEYS = ["workers", "drainTimeoutMs", "listeners", "pools", "http", "admin", "validation"];
const LISTENER_KEYS = ["name", "protocol", "address", "port", "pool", "contract", "routes", "validate"];
const VALIDATE_KEYS = ["contractFile", "operations", "inlineBodyBytes", "maxBodyBytes"];
const OPERATION_KEYS = ["name", "method", "path", "request", "response"];
const OPERATION_METHODS: readonly OperationSpec["method"][] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
/** The operation paths contracts allow: "{name}" stands for one segment. */
const OPERATION_PATH = /^\/[A-Za-z0-9._~\-/{}]*$/;
const OPERATION_NAME = /^[A-Za-z_$][A-Za-z0-9_$-]{0,63}$/;
/** "name@version", or a routed contract's "route(a@1+b@1)". */
const CONTRACT_ID = /^(?:[a-z][a-z0-9-]{0,62}@[1-9][0-9]{0,5}|route\([a-z0-9@+()-]{1,1000}\))$/;
const ROUTE_KEYS = ["prefix", "pool"];
const POOL_KEYS = ["name", "policy", "hashKey", "backends", "healthCheck", "outlierDetection", "slowStartMs", "upstream"];
const BACKEND_KEYS = ["address", "port", "weight", "backup"];
/** The ways to give the admin token; at most one of them. */
const TOKEN_KEYS = ["token", "tokenFile", "tokenSha256"] as const;
const ADMIN_KEYS = ["address", "port", ...TOKEN_KEYS, "metricsTokenSha256"];

const PROTOCOLS: readonly Protocol[] = ["http", "tcp"];
const POLICIES: readonly PolicyName[] = ["round-robin", "least-request", "consistent-hash", "random"];

/** Pool and listener names end up in metrics labels, log lines and admin API URLs. */
const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
const NAME_RULE = "1 to 64 letters, digits, '_', '.' or '-'";
const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Anything sent in an Authorization header must be visible ASCII without spaces. */
const TOKEN_PATTERN = /^[\x21-\x7e]+$/;
const MIN_TOKEN_LENGTH = 16;
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

const CLIENT_ADDRESS: HashKey = Object.freeze({ kind: "client-address" });

function defaultWorkers(): number {
  return Math.min(WORKERS.max, Math.max(WORKERS.min, availableParallelism()));
}

function poolList(ctx: Ctx, path: string, raw: unknown): PoolConfig[] {
  const items = array(ctx, path, raw, "a non-empty array of pools", true);
  const pools: PoolConfig[] = [];
  const firstIndexByName = new Map<string, number>();
  items.forEach((item, i) => {
    const p = pool(ctx, index(path, i), item);
    const earlier = firstIndexByName.get(p.name);
    if (earlier !== undefined) fail(ctx, at(index(path, i), "name"), p.name, `duplicate pool name (also ${index(path, earlier)}.name)`);
    firstIndexByName.set(p.name, i);
    pools.push(p);
  });
  return pools;
}

function pool(ctx: Ctx, path: string, raw: unknown): PoolConfig {
  const o = objectWithKeys(ctx, path, raw, POOL_KEYS, "a pool object");
  const name = pattern(ctx, at(path, "name"), get(o, "name"), NAME_PATTERN, NAME_RULE);
  const policy = oneOf(ctx, at(path, "policy"), get(o, "policy"), POLICIES, "round-robin");
  const hashKeyValue = hashKey(ctx, at(path, "hashKey"), get(o, "hashKey"));
  // A header key on another policy is almost certainly a forgotten `policy: consistent-hash`.
  if (hashKeyValue.kind === "header" && policy !== "consistent-hash") {
    fail(ctx, at(path, "hashKey"), get(o, "hashKey"), `hashing on a header needs policy "consistent-hash" (this pool's policy is "${policy}")`);
  }
  const backendsRaw = get(o, "backends");
  return {
    name,
    policy,
    hashKey: hashKeyValue,
    backends: backendsRaw === undefined ? [] : backendList(ctx, at(path, "backends"), backendsRaw),
    healthCheck: healthCheck(ctx, at(path, "healthCheck"), get(o, "healthCheck")),
    outlierDetection: outlierDetection(ctx, at(path, "outlierDetection"), get(o, "outlierDetection")),
    slowStartMs: integer(ctx, at(path, "slowStartMs"), get(o, "slowStartMs"), TIMER_MS_OR_ZERO, 0),
    upstream: upstream(ctx, at(path, "upstream"), get(o, "upstream")),
  };
}

function hashKey(ctx: Ctx, path: string, raw: unknown): HashKey {
  const expected = `"client-address" or { header: <header name> }`;
  if (raw === undefined || raw === "client-address") return CLIENT_ADDRESS;
  if (!isPlainObject(raw)) fail(ctx, path, raw, `expected ${expected}`);
  // The normalised form ({ kind, name }) is accepted too, so that a loaded config can be normalised again.
  if (Object.hasOwn(raw, "kind")) {
    const o = objectWithKeys(ctx, path, raw, ["kind", "name"], expected);
    const kind = oneOf(ctx, at(path, "kind"), get(o, "kind"), ["client-address", "header"] as const);
    if (kind === "client-address") {
      if (get(o, "name") !== undefined) fail(ctx, at(path, "name"), get(o, "name"), `only a "header" hash key has a name`);
      return CLIENT_ADDRESS;
    }
    return { kind: "header", name: headerName(ctx, at(path, "name"), get(o, "name")) };
  }
  const o = objectWithKeys(ctx, path, raw, ["header"], expected);
  return { kind: "header", name: headerName(ctx, at(path, "header"), get(o, "header")) };
}

function headerName(ctx: Ctx, path: string, raw: unknown): string {
  // Lower-cased because Node hands request headers to the picker with lower-case names.
  return pattern(ctx, path, raw, HTTP_TOKEN, "an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)").toLowerCase();
}

function backendList(ctx: Ctx, path: string, raw: unknown): BackendConfig[] {
  const items = array(ctx, path, raw, "an array of backends", false);
  const backends: BackendConfig[] = [];
  const firstIndexById = new Map<string, number>();
  items.forEach((item, i) => {
    const b = backend(ctx, index(path, i), item);
    // Host names are case-insensitive, and the backend's identity elsewhere is "address:port".
    const id = `${b.address.toLowerCase()}:${b.port}`;
    const earlier = firstIndexById.get(id);
    if (earlier !== undefined) fail(ctx, index(path, i), item, `duplicate backend ${b.address}:${b.port} (also ${index(path, earlier)})`);
    firstIndexById.set(id, i);
    backends.push(b);
  });
  return backends;
}

function backend(ctx: Ctx, path: string, raw: unknown): BackendConfig {
  if (typeof raw === "string") return backendFromString(ctx, path, raw);
  const o = objectWithKeys(ctx, path, raw, BACKEND_KEYS, `a backend: { address, port, weight } or "host:port"`);
  const address = hostAddress(ctx, at(path, "address"), get(o, "address"));
  const refusal = backendAddressProblem(address);
  if (refusal !== null) fail(ctx, at(path, "address"), address, refusal);
  return {
    address,
    port: integer(ctx, at(path, "port"), get(o, "port"), PORT),
    weight: integer(ctx, at(path, "weight"), get(o, "weight"), WEIGHT, 1),
    backup: flag(ctx, at(path, "backup"), get(o, "backup")),
  };
}

function flag(ctx: Ctx, path: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== "boolean") fail(ctx, path, value, "expected true or false");
  return value;
}

/** "10.0.0.1:80", "backend.local:80" or "[::1]:80". */
function backendFromString(ctx: Ctx, path: string, text: string): BackendConfig {
  const bracketed = /^\[([^\]]*)\]:(\d{1,5})$/.exec(text);
  const plain = /^([^:[\]]+):(\d{1,5})$/.exec(text);
  const match = bracketed ?? plain;
  if (match === null) {
    const hint = isIP(text) === 6 || text.split(":").length > 2 ? `; write IPv6 addresses in brackets, e.g. "[::1]:9001"` : "";
    fail(ctx, path, text, `expected a backend as "host:port" or "[ipv6]:port"${hint}`);
  }
  const [, host, portText] = match;
  if (bracketed !== null && isIP(host) !== 6) fail(ctx, path, text, "only IPv6 addresses go in brackets");
  if (plain !== null && !isHostAddress(host)) fail(ctx, path, text, `${JSON.stringify(host)} is not an IP address or host name`);
  const refusal = backendAddressProblem(host);
  if (refusal !== null) fail(ctx, path, text, refusal);
  const port = Number(portText);
  if (port < PORT.min || port > PORT.max) fail(ctx, path, text, `the port must be ${describeRange(PORT)}`);
  return { address: host, port, weight: 1, backup: false };
}

function healthCheck(ctx: Ctx, path: string, raw: unknown): HealthCheckOptions | null {
  if (raw === undefined || raw === false) return null;
  if (raw === true) return { ...DEFAULT_HEALTH_CHECK };
  const o = objectWithKeys(ctx, path, raw, Object.keys(DEFAULT_HEALTH_CHECK), "true, false or a health check object");
  const checkPath = pattern(ctx, at(path, "path"), get(o, "path") ?? DEFAULT_HEALTH_CHECK.path, /^\/[\x21-\x7e]*$/, `a request path starting with "/" (no spaces)`);
  const numbers = integersOnto(ctx, path, o, DEFAULT_HEALTH_CHECK, { intervalMs: TIMER_MS, timeoutMs: TIMER_MS, rise: COUNT, fall: COUNT });
  // A probe still running when the next one is due would make checks overlap and pile up.
  if (numbers.timeoutMs >= numbers.intervalMs) {
    const key = get(o, "timeoutMs") !== undefined ? "timeoutMs" : "intervalMs";
    fail(ctx, at(path, key), numbers[key], `timeoutMs (${numbers.timeoutMs}) must be less than intervalMs (${numbers.intervalMs})`);
  }
  return { ...numbers, path: checkPath };
}

function outlierDetection(ctx: Ctx, path: string, raw: unknown): OutlierDetectionOptions {
  const o = objectWithKeys(ctx, path, raw ?? {}, Object.keys(DEFAULT_OUTLIER_DETECTION), "an outlier detection object");
  const options = integersOnto(ctx, path, o, DEFAULT_OUTLIER_DETECTION, {
    consecutive5xx: COUNT_OR_ZERO,
    consecutiveConnectFailures: COUNT_OR_ZERO,
    baseEjectionMs: TIMER_MS,
    maxEjectionMs: TIMER_MS,
    maxEjectedPercent: PERCENT,
  });
  if (options.maxEjectionMs < options.baseEjectionMs) {
    const key = get(o, "maxEjectionMs") !== undefined ? "maxEjectionMs" : "baseEjectionMs";
    fail(ctx, at(path, key), options[key], `maxEjectionMs (${options.maxEjectionMs}) must be at least baseEjectionMs (${options.baseEjectionMs})`);
  }
  return options;
}

function upstream(ctx: Ctx, path: string, raw: unknown): UpstreamOptions {
  const o = objectWithKeys(ctx, path, raw ?? {}, Object.keys(DEFAULT_UPSTREAM), "an upstream options object");
  return integersOnto(ctx, path, o, DEFAULT_UPSTREAM, {
    maxConnectionsPerBackend: COUNT,
    maxQueue: COUNT_OR_ZERO,
    queueTimeoutMs: TIMER_MS,
    connectTimeoutMs: TIMER_MS,
    responseTimeoutMs: TIMER_MS,
    idleTimeoutMs: TIMER_MS,
    pipelining: PIPELINE_DEPTH,
    maxRequestsPerConnection: COUNT_OR_ZERO,
    emptyPoolHold: COUNT_OR_ZERO,
    emptyPoolHoldMs: TIMER_MS,
  });
}

function listenerList(ctx: Ctx, path: string, raw: unknown, pools: readonly PoolConfig[]): ListenerConfig[] {
  const items = array(ctx, path, raw, "a non-empty array of listeners", true);
  const listeners: ListenerConfig[] = [];
  let validated = 0;
  items.forEach((item, i) => {
    const l = listener(ctx, index(path, i), item, i, pools);
    listeners.forEach((other, j) => {
      if (other.name === l.name) fail(ctx, at(index(path, i), "name"), l.name, `duplicate listener name (also ${index(path, j)}.name)`);
      // Port 0 asks the OS for a fresh port each time, so it never collides.
      if (l.port !== 0 && other.port === l.port && sameHost(other.address, l.address)) {
        fail(ctx, at(index(path, i), "port"), l.port, `port ${l.port} on ${l.address} is already used by ${index(path, j)}`);
      }
    });
    if (l.validate !== null && ++validated > MAX_VALIDATED_LISTENERS) {
      fail(ctx, at(index(path, i), "validate"), "...", `at most ${MAX_VALIDATED_LISTENERS} listeners may check contracts`);
    }
    listeners.push(l);
  });
  return listeners;
}

function listener(ctx: Ctx, path: string, raw: unknown, position: number, pools: readonly PoolConfig[]): ListenerConfig {
  const o = objectWithKeys(ctx, path, raw, LISTENER_KEYS, "a listener object");
  const name = pattern(ctx, at(path, "name"), get(o, "name") ?? `listener-${position}`, NAME_PATTERN, NAME_RULE);
  const protocol = oneOf(ctx, at(path, "protocol"), get(o, "protocol"), PROTOCOLS, "http");
  const address = hostAddress(ctx, at(path, "address"), get(o, "address"), "127.0.0.1");
  const port = integer(ctx, at(path, "port"), get(o, "port"), LISTEN_PORT);
  const poolName = str(ctx, at(path, "pool"), get(o, "pool"));
  const target = pools.find((p) => p.name === poolName);
  if (target === undefined) {
    fail(ctx, at(path, "pool"), poolName, `no pool named ${JSON.stringify(poolName)} (pools: ${pools.map((p) => p.name).join(", ")})`);
  }
  if (protocol === "tcp" && target.hashKey.kind === "header") {
    fail(ctx, at(path, "pool"), poolName, `pool ${JSON.stringify(poolName)} hashes on a request header, which a tcp listener does not have`);
  }
  const contractRaw = get(o, "contract");
  const contract = contractRaw === undefined ? null : pattern(ctx, at(path, "contract"), contractRaw, CONTRACT_ID, "a contract id like \"orders@1\"");
  const routesPath = at(path, "routes");
  const routesRaw = get(o, "routes");
  const routes = routesRaw === undefined ? [] : array(ctx, routesPath, routesRaw, "an array of { prefix, pool }", false).map((item, i) => {
    const r = objectWithKeys(ctx, index(routesPath, i), item, ROUTE_KEYS, "a route: { prefix, pool }");
    const prefix = pattern(ctx, at(index(routesPath, i), "prefix"), get(r, "prefix"), ROUTE_PREFIX, "a path prefix starting with \"/\"");
    const routePool = str(ctx, at(index(routesPath, i), "pool"), get(r, "pool"));
    if (!pools.some((p) => p.name === routePool)) {
      fail(ctx, at(index(routesPath, i), "pool"), routePool, `no pool named ${JSON.stringify(routePool)}`);
    }
    return { prefix, pool: routePool };
  });
  if (routes.length > 0 && protocol === "tcp") fail(ctx, routesPath, routesRaw, "routes need an http listener");
  const validateRaw = get(o, "validate");
  const validate = validateRaw === undefined || validateRaw === false ? null : validation(ctx, at(path, "validate"), validateRaw, contract);
  if (validate !== null && protocol === "tcp") fail(ctx, at(path, "validate"), "...", "contract checks need an http listener");
  return { name, protocol, address, port, pool: poolName, contract, routes, validate };
}

// ---------------------------------------------------------------------------------------------
// Contract checks

/**
 * A listener's `validate`: the operations, given inline (`operations`: name -> operation, or a list
 * with names) or read from `contractFile`, which is either a contract ({ "operations": {...} }) or an
 * image manifest (farmhand.json), whose `contracts` entry for the listener's `contract` is used.
 */
function validation(ctx: Ctx, path: string, raw: unknown, contract: string | null): ValidationConfig {
  const o = objectWithKeys(ctx, path, raw, VALIDATE_KEYS, "a contract check: { contractFile } or { operations }");
  const file = get(o, "contractFile");
  const inline = get(o, "operations");
  if ((file === undefined) === (inline === undefined)) {
    fail(ctx, path, raw, "give exactly one of contractFile and operations");
  }
  let operations: OperationSpec[];
  if (inline !== undefined) {
    operations = operationList(ctx, at(path, "operations"), inline);
  } else {
    const filePath = str(ctx, at(path, "contractFile"), file);
    const resolved = resolve(ctx.baseDir, filePath);
    let parsed: unknown;
    try {
      parsed = JSON.parse(stripBom(readFileSync(resolved, "utf8")));
    } catch (error) {
      fail(ctx, at(path, "contractFile"), filePath, `cannot read a contract from ${resolved}: ${errorMessage(error)}`);
    }
    operations = operationsOfFile(ctx, at(path, "contractFile"), filePath, parsed, contract);
  }
  const inlineBodyBytes = integer(ctx, at(path, "inlineBodyBytes"), get(o, "inlineBodyBytes"), INLINE_BODY_BYTES, DEFAULT_INLINE_BODY_BYTES);
  const maxBodyBytes = integer(ctx, at(path, "maxBodyBytes"), get(o, "maxBodyBytes"), VALIDATED_BODY_BYTES, DEFAULT_MAX_VALIDATED_BODY_BYTES);
  return { operations, inlineBodyBytes, maxBodyBytes };
}

function operationsOfFile(ctx: Ctx, path: string, file: string, parsed: unknown, contract: string | null): OperationSpec[] {
  if (!isPlainObject(parsed)) fail(ctx, path, file, "expected a JSON object: a contract { operations } or an image manifest { contracts }");
  if (Object.hasOwn(parsed, "operations")) return operationList(ctx, `${file}: operations`, parsed.operations);
  const contracts = parsed.contracts;
  if (!isPlainObject(contracts)) fail(ctx, path, file, "the file has neither \"operations\" nor \"contracts\"");
  const ids = Object.keys(contracts);
  const id = contract ?? (ids.length === 1 ? ids[0] : null);
  if (id === null) fail(ctx, path, file, `the manifest defines ${ids.length} contracts (${ids.join(", ")}): name one in the listener's "contract"`);
  const def = contracts[id];
  if (!isPlainObject(def)) fail(ctx, path, file, `the manifest does not define contract ${id} (it defines ${ids.join(", ")})`);
  return operationList(ctx, `${file}: contracts.${id}.operations`, def.operations);
}

function operationList(ctx: Ctx, path: string, raw: unknown): OperationSpec[] {
  let entries: [string, unknown][];
  if (Array.isArray(raw)) {
    entries = raw.map((item, i) => [isPlainObject(item) && typeof item.name === "string" ? item.name : "", item] as [string, unknown]);
    entries.forEach(([name], i) => {
      if (name === "") fail(ctx, index(path, i), raw[i], "expected an operation with a name");
    });
  } else if (isPlainObject(raw)) {
    entries = Object.entries(raw);
  } else {
    fail(ctx, path, raw, "expected operations: name -> { method, path, request }");
  }
  if (entries.length === 0) fail(ctx, path, raw, "expected at least one operation");
  if (entries.length > MAX_VALIDATED_OPERATIONS) fail(ctx, path, `${entries.length} operations`, `at most ${MAX_VALIDATED_OPERATIONS} operations may be checked per listener`);
  const seen = new Map<string, string>();
  return entries.map(([name, item]) => {
    const opPath = Array.isArray(raw) ? index(path, entries.findIndex((e) => e[1] === item)) : at(path, name);
    const op = objectWithKeys(ctx, opPath, item, OPERATION_KEYS, "an operation { method, path, request }");
    if (!OPERATION_NAME.test(name)) fail(ctx, opPath, name, "expected an operation name (letters, digits, '_', '$', '-')");
    const method = oneOf(ctx, at(opPath, "method"), get(op, "method"), OPERATION_METHODS);
    const route = pattern(ctx, at(opPath, "path"), get(op, "path"), OPERATION_PATH, 'a path starting with "/" ("{name}" for a segment)');
    const key = `${method} ${route.replace(/\{[^}]*\}/g, "{}")}`;
    const other = seen.get(key);
    if (other !== undefined) fail(ctx, at(opPath, "path"), route, `${method} ${route} is also operation ${other}`);
    seen.set(key, name);
    const request = get(op, "request") ?? { type: "null" };
    checkRequestSchema(ctx, at(opPath, "request"), request);
    return { name, method, path: route, request: request as JsonSchema };
  });
}

// TypeBox is loaded only when a listener checks contracts (it costs memory a plain proxy never needs).
type CompileModule = typeof import("typebox/compile");

function checkRequestSchema(ctx: Ctx, path: string, schema: unknown): void {
  if (typeof schema !== "boolean" && !isPlainObject(schema)) fail(ctx, path, schema, "expected a JSON Schema (an object or a boolean)");
  try {
    const { Compile } = requireLazily("typebox/compile") as CompileModule;
    Compile(schema as never);
  } catch (error) {
    fail(ctx, path, schema, `not a usable JSON Schema: ${errorMessage(error)}`);
  }
}

function validationPool(ctx: Ctx, path: string, raw: unknown): ValidationPoolOptions {
  const o = objectWithKeys(ctx, path, raw ?? {}, Object.keys(DEFAULT_VALIDATION_POOL), "validation pool options { threads, memoryBytes }");
  return integersOnto(ctx, path, o, DEFAULT_VALIDATION_POOL, {
    threads: VALIDATION_THREADS,
    memoryBytes: VALIDATION_MEMORY,
  });
}

function httpLimits(ctx: Ctx, path: string, raw: unknown): HttpLimits {
  const o = objectWithKeys(ctx, path, raw ?? {}, Object.keys(DEFAULT_HTTP_LIMITS), "an http limits object");
  const limits = integersOnto(ctx, path, o, DEFAULT_HTTP_LIMITS, {
    maxRequestLineBytes: COUNT,
    maxHeadBytes: COUNT,
    maxHeaderCount: COUNT,
    headTimeoutMs: TIMER_MS,
    keepAliveTimeoutMs: TIMER_MS,
    bodyTimeoutMs: TIMER_MS,
    bufferBodyBytes: BODY_BUFFER_BYTES,
    minBodyBytesPerSecond: COUNT_OR_ZERO,
  });
  const proxiesPath = at(path, "trustedProxies");
  const proxiesRaw = get(o, "trustedProxies");
  const trustedProxies = proxiesRaw === undefined ? [] : array(ctx, proxiesPath, proxiesRaw, "an array of IP addresses", false);
  trustedProxies.forEach((entry, i) => {
    if (typeof entry !== "string" || isIP(entry) === 0) fail(ctx, index(proxiesPath, i), entry, "expected an IP address (ranges are not supported)");
  });
  return { ...limits, trustedProxies: trustedProxies as string[] };
}

function adminConfig(ctx: Ctx, path: string, raw: unknown, listeners: readonly ListenerConfig[]): AdminConfig | null {
  if (raw === undefined || raw === false) return null;
  const o = objectWithKeys(ctx, path, raw, ADMIN_KEYS, "false or an admin object { address, port, token | tokenFile | tokenSha256 }");
  const address = hostAddress(ctx, at(path, "address"), get(o, "address"), "127.0.0.1");
  const port = integer(ctx, at(path, "port"), get(o, "port"), LISTEN_PORT);
  const clash = listeners.findIndex((l) => port !== 0 && l.port === port && sameHost(l.address, address));
  if (clash !== -1) fail(ctx, at(path, "port"), port, `port ${port} on ${address} is already used by listeners[${clash}]`);
  const tokenSha256 = adminTokenDigest(ctx, path, o);
  // The admin API can rewrite pools; unauthenticated, it must stay reachable from this host only.
  if (tokenSha256 === null && !isLoopback(address)) {
    fail(ctx, at(path, "token"), undefined, `a token is required when the admin API listens on a non-loopback address (admin.address is ${JSON.stringify(address)}); set admin.token, admin.tokenFile or admin.tokenSha256, or listen on 127.0.0.1`);
  }
  const metricsRaw = get(o, "metricsTokenSha256");
  if (metricsRaw !== undefined && (typeof metricsRaw !== "string" || !SHA256_HEX.test(metricsRaw))) {
    fail(ctx, at(path, "metricsTokenSha256"), `<redacted, ${typeof metricsRaw === "string" ? metricsRaw.length : typeof metricsRaw} characters>`, "expected exactly 64 hexadecimal digits: the read-only metrics token's SHA-256 digest");
  }
  const metricsTokenSha256 = typeof metricsRaw === "string" ? metricsRaw.toLowerCase() : null;
  return { address, port, tokenSha256, metricsTokenSha256 };
}

/** The token's SHA-256 digest (lowercase hex), from whichever one of the token fields is given; null for none. */
function adminTokenDigest(ctx: Ctx, path: string, o: Record<string, unknown>): string | null {
  const given = TOKEN_KEYS.filter((key) => get(o, key) !== undefined);
  if (given.length > 1) {
    const second = given[1];
    // Only a file name may be shown; the other two are secrets, or nearly.
    const shown = second === "tokenFile" ? get(o, second) : "<redacted>";
    fail(ctx, at(path, second), shown, `give only one of admin.token, admin.tokenFile and admin.tokenSha256 (got ${given.map((k) => `admin.${k}`).join(" and ")})`);
  }
  const digestRaw = get(o, "tokenSha256");
  if (digestRaw !== undefined) {
    if (typeof digestRaw !== "string" || !SHA256_HEX.test(digestRaw)) {
      // Someone may have pasted the token itself here, so the value is never echoed.
      const shown = typeof digestRaw === "string" ? `<redacted, ${digestRaw.length} characters>` : `<redacted ${typeof digestRaw}>`;
      fail(ctx, at(path, "tokenSha256"), shown, `expected exactly 64 hexadecimal digits: the token's SHA-256 digest (e.g. printf %s "$TOKEN" | sha256sum)`);
    }
    return digestRaw.toLowerCase();
  }
  const token = adminToken(ctx, path, o);
  return token === null ? null : sha256Hex(token);
}

function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

function adminToken(ctx: Ctx, path: string, o: Record<string, unknown>): string | null {
  const tokenRaw = get(o, "token");
  const fileRaw = get(o, "tokenFile");
  if (tokenRaw !== undefined) return checkToken(ctx, at(path, "token"), tokenRaw);
  if (fileRaw === undefined) return null;
  const filePath = str(ctx, at(path, "tokenFile"), fileRaw);
  const resolved = resolve(ctx.baseDir, filePath);
  let content: string;
  try {
    content = readFileSync(resolved, "utf8");
  } catch (error) {
    fail(ctx, at(path, "tokenFile"), filePath, `cannot read the token file: ${errorMessage(error)}`);
  }
  const token = content.trim();
  const problem = tokenProblem(token);
  if (problem !== null) fail(ctx, at(path, "tokenFile"), filePath, `the token in ${resolved} ${problem}`);
  return token;
}

function checkToken(ctx: Ctx, path: string, raw: unknown): string {
  if (typeof raw !== "string") fail(ctx, path, `<redacted ${typeof raw}>`, "expected a string");
  const problem = tokenProblem(raw);
  // The value may be a real secret that is merely malformed, so it never goes into the message.
  if (problem !== null) fail(ctx, path, `<redacted, ${raw.length} characters>`, `the token ${problem}`);
  return raw;
}

function tokenProblem(token: string): string | null {
  if (token.length < MIN_TOKEN_LENGTH) return `must be at least ${MIN_TOKEN_LENGTH} characters long (it has ${token.length})`;
  if (!TOKEN_PATTERN.test(token)) return "must consist of visible ASCII characters without spaces";
  return null;
}

// ---------------------------------------------------------------------------------------------
// Addresses

/** RFC 1123 labels; '_' is tolerated because container and service-discovery names use it. */
const HOST_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?";
const HOST_NAME = new RegExp(`^(?=.{1,253}$)${HOST_LABEL}(?:\\.${HOST_LABEL})*\\.?$`);

function isHostAddress(text: string): boolean {
  if (isIP(text) !== 0) return true;
  if (!HOST_NAME.test(text)) return false;
  // An all-digit last label means a malformed IPv4 address such as "10.0.0.256", not a host name.
  const labels = text.replace(/\.$/, "").split(".");
  return !/^\d+$/.test(labels[labels.length - 1]);
}

/**
 * Addresses that name no single host a proxy should forward to. Link-local matters most: in a cloud
 * VM, 169.254.169.254 is the metadata service that hands out the VM's credentials, so a backend
 * there turns the proxy into a way to read them. IPv4 rules match their IPv4-mapped IPv6 spellings
 * too (::ffff:169.254.169.254, ::ffff:a9fe:a9fe), which BlockList checks against IPv4 rules.
 */
const FORBIDDEN_BACKEND_RANGES: readonly { readonly ranges: BlockList; readonly why: string }[] = [
  forbiddenRange("is unspecified (0.0.0.0/8 or ::): it names no host, and connecting to it reaches this machine", [
    ["0.0.0.0", 8, "ipv4"],
    ["::", 128, "ipv6"],
  ]),
  forbiddenRange("is the broadcast address", [["255.255.255.255", 32, "ipv4"]]),
  forbiddenRange("is link-local (169.254.0.0/16 or fe80::/10), where cloud metadata services answer (169.254.169.254)", [
    ["169.254.0.0", 16, "ipv4"],
    ["fe80::", 10, "ipv6"],
  ]),
  forbiddenRange("is multicast (224.0.0.0/4 or ff00::/8)", [
    ["224.0.0.0", 4, "ipv4"],
    ["ff00::", 8, "ipv6"],
  ]),
];

function forbiddenRange(why: string, subnets: readonly (readonly [string, number, "ipv4" | "ipv6"])[]): { ranges: BlockList; why: string } {
  const ranges = new BlockList();
  for (const [network, prefix, family] of subnets) ranges.addSubnet(network, prefix, family);
  return { ranges, why };
}

/** Why `address` cannot be a backend, or null when it can (host names always can: they are resolved later). */
function backendAddressProblem(address: string): string | null {
  const family = isIP(address);
  if (family === 0) return null;
  for (const { ranges, why } of FORBIDDEN_BACKEND_RANGES) {
    if (ranges.check(address, family === 6 ? "ipv6" : "ipv4")) {
      return `${address} ${why}; a backend must be a unicast host address (loopback and private addresses are fine)`;
    }
  }
  return null;
}

function sameHost(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

// ---------------------------------------------------------------------------------------------
// Field helpers

interface Ctx {
  readonly file: string;
  /** What admin.tokenFile is relative to. */
  readonly baseDir: string;
}

interface Range {
  readonly min: number;
  readonly max: number;
}

/** setTimeout treats anything above 2^31-1 ms as 1 ms, so a huge timeout would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const PORT: Range = { min: 1, max: 65535 };
const LISTEN_PORT: Range = { min: 0, max: 65535 };
const WORKERS: Range = { min: 1, max: 256 };
const WEIGHT: Range = { min: 1, max: 1000 };
const PERCENT: Range = { min: 0, max: 100 };
const PIPELINE_DEPTH: Range = { min: 1, max: 64 };
const COUNT: Range = { min: 1, max: Number.MAX_SAFE_INTEGER };
/** A body held whole in a worker's memory: up to 16 MiB. */
const BODY_BUFFER_BYTES: Range = { min: 0, max: 16 * 1024 * 1024 };
const COUNT_OR_ZERO: Range = { min: 0, max: Number.MAX_SAFE_INTEGER };
const INLINE_BODY_BYTES: Range = { min: 0, max: 16 * 1024 * 1024 };
const VALIDATED_BODY_BYTES: Range = { min: 1, max: 1024 * 1024 * 1024 };
const VALIDATION_THREADS: Range = { min: 1, max: 64 };
const VALIDATION_MEMORY: Range = { min: 1024 * 1024, max: 64 * 1024 * 1024 * 1024 };
const TIMER_MS: Range = { min: 1, max: MAX_TIMER_MS };
const TIMER_MS_OR_ZERO: Range = { min: 0, max: MAX_TIMER_MS };

function contextFor(file: string): Ctx {
  // Placeholders such as "<inline>" are not paths; relative token files then resolve from the working directory.
  const baseDir = file.startsWith("<") ? process.cwd() : dirname(resolve(file));
  return { file, baseDir };
}

function fail(ctx: Ctx, path: string, value: unknown, problem: string): never {
  throw new ConfigError(ctx.file, path === "" ? "(root)" : path, value, problem);
}

function at(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}

function index(path: string, i: number): string {
  return `${path}[${i}]`;
}

/** A field's value; null counts as absent because YAML reads "key:" with nothing after it as null. */
function get(o: Record<string, unknown>, key: string): unknown {
  const value = Object.hasOwn(o, key) ? o[key] : undefined;
  return value === null ? undefined : value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** A plain object whose keys are all in `known`; an unknown key is reported with a spelling hint. */
function objectWithKeys(ctx: Ctx, path: string, value: unknown, known: readonly string[], what: string): Record<string, unknown> {
  if (!isPlainObject(value)) fail(ctx, path, value, `expected ${what}`);
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const guess = closest(key, known);
    const hint = guess !== null ? `; did you mean ${JSON.stringify(guess)}?` : ` (known fields: ${known.join(", ")})`;
    fail(ctx, at(path, key), value[key], `unknown field${hint}`);
  }
  return value;
}

/** An integer in `range`; `fallback` undefined makes the field required. */
function integer(ctx: Ctx, path: string, value: unknown, range: Range, fallback?: number): number {
  if (value === undefined) {
    if (fallback === undefined) fail(ctx, path, value, `is required: expected ${describeRange(range)}`);
    return fallback;
  }
  if (typeof value !== "number" || !Number.isInteger(value) || value < range.min || value > range.max) {
    fail(ctx, path, value, `expected ${describeRange(range)}`);
  }
  return value;
}

function describeRange({ min, max }: Range): string {
  if (max < Number.MAX_SAFE_INTEGER) return `an integer between ${min} and ${max}`;
  return min === 0 ? "a non-negative integer" : min === 1 ? "a positive integer" : `an integer of at least ${min}`;
}

/** Every numeric field of `defaults` named in `ranges`, each overridable from `o`. */
function integersOnto<T extends object>(ctx: Ctx, path: string, o: Record<string, unknown>, defaults: T, ranges: { readonly [K in keyof T]?: Range }): T {
  const out = { ...defaults } as Record<string, unknown>;
  for (const key of Object.keys(ranges)) {
    const range = ranges[key as keyof T] as Range;
    out[key] = integer(ctx, at(path, key), get(o, key), range, out[key] as number);
  }
  return out as T;
}

/** A non-empty string; `fallback` undefined makes the field required. */
function str(ctx: Ctx, path: string, value: unknown, fallback?: string): string {
  if (value === undefined) {
    if (fallback === undefined) fail(ctx, path, value, "is required: expected a string");
    return fallback;
  }
  if (typeof value !== "string" || value === "") fail(ctx, path, value, "expected a non-empty string");
  return value;
}

function pattern(ctx: Ctx, path: string, value: unknown, re: RegExp, what: string): string {
  const text = str(ctx, path, value);
  if (!re.test(text)) fail(ctx, path, text, `expected ${what}`);
  return text;
}

function hostAddress(ctx: Ctx, path: string, value: unknown, fallback?: string): string {
  const text = str(ctx, path, value, fallback);
  if (!isHostAddress(text)) fail(ctx, path, text, "expected an IP address or host name (without brackets or port)");
  return text;
}

/** One of `allowed`; `fallback` undefined makes the field required. */
function oneOf<T extends string>(ctx: Ctx, path: string, value: unknown, allowed: readonly T[], fallback?: T): T {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value === "string" && (allowed as readonly string[]).includes(value)) return value as T;
  const guess = typeof value === "string" ? closest(value, allowed) : null;
  const hint = guess !== null ? `; did you mean ${JSON.stringify(guess)}?` : "";
  const options = allowed.map((a) => JSON.stringify(a)).join(", ");
  fail(ctx, path, value, `${value === undefined ? "is required: " : ""}expected one of ${options}${hint}`);
}

function array(ctx: Ctx, path: string, value: unknown, what: string, nonEmpty: boolean): unknown[] {
  if (!Array.isArray(value) || (nonEmpty && value.length === 0)) {
    fail(ctx, path, value, `${value === undefined ? "is required: " : ""}expected ${what}`);
  }
  return value;
}

/** The candidate within edit distance 2 of `word` (ignoring case), if any. */
function closest(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

// ---------------------------------------------------------------------------------------------
// Misc

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
