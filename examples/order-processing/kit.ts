// A small service kit for the example images (node:http, no framework). A server does:
//
//   const svc = service(OrderService);                     // reads env + manifest; exits 78 on a config error
//   svc.provide("api", { place: async ({ body }) => ..., get: ..., list: ... });
//   await svc.listen();
//
// and calls its imports through typed clients: `(await svc.imports.payments.charge({...})).body`.
//
// What it does for every server: reads FARMHAND_LISTEN / FARMHAND_VM / FARMHAND_ROLE / FARMHAND_IMPORTS
// and the image's farmhand.json (and checks they agree with the role); serves GET /.well-known/farmhand
// and GET /healthz; routes each contract operation to its handler, validating request bodies (400
// naming the fields) and, in development (NODE_ENV !== "production"), responses; limits body size and
// time; stamps every response with `x-served-by: <vm>`; logs one line per request; stops gracefully on
// SIGTERM/SIGINT (exit 0).

import { readFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { performance } from "node:perf_hooks";
import Type, { type Static, type TSchema } from "typebox";
import Value from "typebox/value";
import { request } from "undici";
import type { AnyContract, AnyRole, Operation, RequestOf, ResponseOf } from "../../control/contracts/index.ts";

// ---------------------------------------------------------------------------------------------------
// Errors

/** A configuration mistake (environment, manifest): the server cannot start. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Thrown by a handler to answer with a status and `{ error: message, ...extra }`. */
export class HttpError extends Error {
  override name = "HttpError";
  readonly status: number;
  readonly extra: Readonly<Record<string, unknown>>;
  constructor(status: number, message: string, extra: Record<string, unknown> = {}) {
    super(message);
    this.status = status;
    this.extra = extra;
  }
}

/** A call to an import failed: unreachable, timed out, answered non-2xx, or answered off-contract. */
export class DependencyError extends Error {
  override name = "DependencyError";
  /** The import's name, e.g. "payments". */
  readonly importName: string;
  /** The dependency's HTTP status, or null when there was no answer. */
  readonly status: number | null;
  /** The dependency's (parsed) answer, when there was one. */
  readonly body: unknown;
  constructor(importName: string, status: number | null, message: string, body?: unknown) {
    super(message);
    this.importName = importName;
    this.status = status;
    this.body = body;
  }
  /**
   * The `error` text the dependency answered with, if it answered in the kit's error shape. It is
   * the dependency's message to its caller: pass it on only for refusals the caller can act on.
   */
  get remoteError(): string | undefined {
    const b = this.body as { error?: unknown } | undefined;
    return typeof b?.error === "string" ? b.error : undefined;
  }
}

/** What a caller of this service is told when an import failed it: the import's name, no details. */
const unavailable = (err: DependencyError): string => `${err.importName} unavailable`;

export interface FieldError {
  /** JSON pointer of the offending field, e.g. "/quantity" ("" for the body itself). */
  readonly path: string;
  readonly message: string;
}

/** Validation errors of `value` against `schema`, one per field, each naming the field. */
export function fieldErrors(schema: TSchema, value: unknown): FieldError[] {
  const out: FieldError[] = [];
  for (const e of Value.Errors(schema, value)) {
    const params = e.params as { requiredProperties?: string[]; additionalProperties?: string[] };
    if (e.keyword === "required" && params.requiredProperties) {
      for (const p of params.requiredProperties) out.push({ path: `${e.instancePath}/${p}`, message: "is required" });
    } else if (e.keyword === "additionalProperties" && params.additionalProperties) {
      for (const p of params.additionalProperties) out.push({ path: `${e.instancePath}/${p}`, message: "is not allowed" });
    } else if (e.keyword === "boolean" && e.schemaPath.endsWith("additionalProperties")) {
      continue; // reported above, by name
    } else {
      out.push({ path: e.instancePath, message: e.message });
    }
  }
  return out;
}

const describe = (errors: readonly FieldError[]): string =>
  errors.map((e) => `${e.path === "" ? "body" : e.path.slice(1)} ${e.message}`).join("; ");

// ---------------------------------------------------------------------------------------------------
// Environment and manifest

const Manifest = Type.Object({
  name: Type.String({ minLength: 1 }),
  entry: Type.String({ minLength: 1 }),
  provides: Type.Record(Type.String(), Type.String()),
  requires: Type.Record(Type.String(), Type.String()),
});
export type Manifest = Static<typeof Manifest>;

/** Reads and checks `<image>/farmhand.json`. */
export function readManifest(image: string): Manifest {
  const file = path.join(image, "farmhand.json");
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new ConfigError(`cannot read manifest ${file}: ${(err as Error).message}`);
  }
  const errors = fieldErrors(Manifest, raw);
  if (errors.length > 0) throw new ConfigError(`manifest ${file} is invalid: ${describe(errors)}`);
  return raw as Manifest;
}

export interface ServiceEnv {
  readonly listen: { readonly host: string; readonly port: number };
  readonly vm: string;
  /** FARMHAND_ROLE, or the role's own name when unset. */
  readonly role: string;
  /** Import name -> base URL (FARMHAND_IMPORTS; {} when unset). */
  readonly imports: Readonly<Record<string, string>>;
  readonly development: boolean;
}

/** Reads the FARMHAND_* variables; throws ConfigError naming the variable when one is missing or bad. */
export function readEnv(env: NodeJS.ProcessEnv = process.env, defaultRole = ""): ServiceEnv {
  const listen = env.FARMHAND_LISTEN;
  if (listen === undefined || listen === "") throw new ConfigError("FARMHAND_LISTEN is not set (expected host:port, e.g. 127.0.1.2:8080)");
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (m === null || port > 65535) throw new ConfigError(`FARMHAND_LISTEN ${JSON.stringify(listen)} is not host:port (e.g. 127.0.1.2:8080)`);
  const vm = env.FARMHAND_VM;
  if (vm === undefined || vm === "") throw new ConfigError("FARMHAND_VM is not set (the VM's name, e.g. orders-1)");
  let imports: Record<string, string> = {};
  const rawImports = env.FARMHAND_IMPORTS;
  if (rawImports !== undefined && rawImports !== "") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawImports);
    } catch (err) {
      throw new ConfigError(`FARMHAND_IMPORTS is not JSON: ${(err as Error).message}`);
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new ConfigError('FARMHAND_IMPORTS must be a JSON object of import name -> base URL, e.g. {"payments":"http://127.0.1.3:8080"}');
    }
    for (const [name, url] of Object.entries(parsed)) {
      if (typeof url !== "string" || !/^https?:\/\/[^/\s]+\/?$/.test(url)) {
        throw new ConfigError(`FARMHAND_IMPORTS entry ${JSON.stringify(name)} is ${JSON.stringify(url)}, not a base URL like http://127.0.1.3:8080`);
      }
      imports[name] = url.replace(/\/$/, "");
    }
  }
  return {
    listen: { host: m[1] ?? m[2], port },
    vm,
    role: env.FARMHAND_ROLE || defaultRole,
    imports,
    development: env.NODE_ENV !== "production",
  };
}

// ---------------------------------------------------------------------------------------------------
// Handlers and clients, typed by contract

export interface Incoming<Body> {
  /** The validated request body (null for operations that take none). */
  readonly body: Body;
  /** Path parameters, e.g. { id: "orders-1-7" } for /orders/{id}. */
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly headers: http.IncomingHttpHeaders;
  /** Aborted when the handler's time is up or the client went away. */
  readonly signal: AbortSignal;
}

/** A response with a status and headers other than the default (200, JSON). */
export interface Reply<Body> {
  readonly [replyBrand]: true;
  readonly status: number;
  readonly body: Body;
  readonly headers: Readonly<Record<string, string>>;
}
const replyBrand = Symbol("reply");

/** `return reply(201, order)`; a string body with a non-JSON content-type is sent as is (e.g. HTML). */
export function reply<Body>(status: number, body: Body, headers: Record<string, string> = {}): Reply<Body> {
  return { [replyBrand]: true, status, body, headers };
}

const isReply = (v: unknown): v is Reply<unknown> => typeof v === "object" && v !== null && replyBrand in v;

export type Handler<C extends AnyContract, Op extends keyof C["operations"]> = (
  req: Incoming<RequestOf<C, Op>>,
) => ResponseOf<C, Op> | Reply<ResponseOf<C, Op>> | Promise<ResponseOf<C, Op> | Reply<ResponseOf<C, Op>>>;

/** One handler per operation of the contract, no more, no fewer. */
export type Handlers<C extends AnyContract> = { readonly [Op in keyof C["operations"]]: Handler<C, Op> };

export interface CallOptions {
  /** Path parameters, e.g. { id } for /orders/{id}. */
  readonly params?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface Called<Body> {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Body;
}

/** One method per operation of the contract. Rejects with DependencyError unless the answer is a 2xx on contract. */
export type Client<C extends AnyContract> = {
  readonly [Op in keyof C["operations"]]: (body: RequestOf<C, Op>, options?: CallOptions) => Promise<Called<ResponseOf<C, Op>>>;
};

export interface ClientOptions {
  /** The import's name, for error messages. */
  readonly name?: string;
  readonly timeoutMs?: number;
  /** Validate outgoing request bodies too (responses are always validated). */
  readonly validateRequests?: boolean;
  /** Sent as x-farmhand-caller. */
  readonly caller?: string;
}

const fillPath = (template: string, params: Readonly<Record<string, string>> = {}): string =>
  template.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const v = params[name];
    if (v === undefined) throw new TypeError(`path ${template}: no value for parameter ${name}`);
    return encodeURIComponent(v);
  });

/** A typed client of `contract` served at `baseUrl`. */
export function client<C extends AnyContract>(contract: C, baseUrl: string, options: ClientOptions = {}): Client<C> {
  const name = options.name ?? contract.name;
  const base = baseUrl.replace(/\/$/, "");
  const out: Record<string, unknown> = {};
  for (const [opName, op] of Object.entries(contract.operations)) {
    out[opName] = async (body: unknown, call: CallOptions = {}): Promise<Called<unknown>> => {
      const url = base + fillPath(op.path, call.params);
      const what = `${name} (${contract.id}) ${opName}: ${op.method} ${url}`;
      if (options.validateRequests) {
        const errors = fieldErrors(op.request, body);
        if (errors.length > 0) throw new DependencyError(name, null, `${what}: request does not match the contract: ${describe(errors)}`);
      }
      const timeoutMs = call.timeoutMs ?? options.timeoutMs ?? 5000;
      const signals = [AbortSignal.timeout(timeoutMs), ...(call.signal ? [call.signal] : [])];
      const hasBody = body !== null && body !== undefined;
      let res: Awaited<ReturnType<typeof request>>;
      try {
        res = await request(url, {
          method: op.method,
          headers: {
            accept: "application/json",
            ...(hasBody ? { "content-type": "application/json" } : {}),
            ...(options.caller ? { "x-farmhand-caller": options.caller } : {}),
          },
          body: hasBody ? JSON.stringify(body) : undefined,
          signal: AbortSignal.any(signals),
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
      } catch (err) {
        const e = err as Error;
        const reason = e.name === "TimeoutError" || signals[0].aborted ? `no answer within ${timeoutMs} ms` : e.message;
        throw new DependencyError(name, null, `${what}: ${reason}`);
      }
      const text = await res.body.text();
      let parsed: unknown = text;
      try {
        parsed = text === "" ? null : JSON.parse(text);
      } catch {
        /* keep the text */
      }
      if (res.statusCode < 200 || res.statusCode > 299) {
        const detail = typeof (parsed as { error?: unknown })?.error === "string" ? (parsed as { error: string }).error : text.slice(0, 200);
        throw new DependencyError(name, res.statusCode, `${what} answered ${res.statusCode}: ${detail}`, parsed);
      }
      const errors = fieldErrors(op.response, parsed);
      if (errors.length > 0) {
        throw new DependencyError(name, res.statusCode, `${what}: response does not match the contract: ${describe(errors)}`, parsed);
      }
      return { status: res.statusCode, headers: res.headers, body: parsed };
    };
  }
  return out as Client<C>;
}

// ---------------------------------------------------------------------------------------------------
// The service

export interface ServiceOptions {
  /** Environment to read (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
  /** Largest request body accepted, in bytes (default 64 KiB). */
  readonly maxBodyBytes?: number;
  /** Time a handler gets before the request is answered 503 (default 10 s). */
  readonly handlerTimeoutMs?: number;
  /** Time to receive a whole request (default 15 s). */
  readonly requestTimeoutMs?: number;
  /** Timeout of calls to imports (default 5 s). */
  readonly importTimeoutMs?: number;
  /** Time given to in-flight requests on SIGTERM before connections are cut (default 5 s). */
  readonly shutdownGraceMs?: number;
  /** Log one line per request to stdout (default true unless FARMHAND_LOG=0). */
  readonly log?: boolean;
  /** Install SIGTERM/SIGINT handlers that close the server and exit 0 (default true). */
  readonly handleSignals?: boolean;
}

export interface Service<R extends AnyRole> {
  readonly role: R;
  readonly env: ServiceEnv;
  readonly manifest: Manifest;
  /** A typed client per import the role requires, wired to FARMHAND_IMPORTS. */
  readonly imports: { readonly [K in keyof R["requires"]]: Client<R["requires"][K]> };
  /** Serves the provided endpoint `name` with one handler per operation of its contract. */
  provide<K extends keyof R["provides"] & string>(name: K, handlers: Handlers<R["provides"][K]>): Service<R>;
  /** Starts serving; every provided endpoint must have its handlers by then. */
  listen(): Promise<{ readonly host: string; readonly port: number; readonly url: string }>;
  /** Stops accepting, lets in-flight requests finish (up to the grace period), closes. */
  close(): Promise<void>;
}

interface Route {
  readonly contractId: string;
  readonly opName: string;
  readonly op: Operation;
  readonly pattern: RegExp;
  readonly paramNames: readonly string[];
  readonly handler: (req: Incoming<unknown>) => unknown;
}

const compilePath = (template: string): { pattern: RegExp; paramNames: string[] } => {
  const paramNames: string[] = [];
  const source = template
    .split(/(\{[^}]+\})/)
    .map((part) => {
      const m = /^\{([^}]+)\}$/.exec(part);
      if (m) {
        paramNames.push(m[1]);
        return "([^/]+)";
      }
      return part.replace(/[.*+?^$()|[\]\\]/g, "\\$&");
    })
    .join("");
  return { pattern: new RegExp(`^${source}/?$`), paramNames };
};

/**
 * Creates the service of `role`: reads the environment and the role's manifest, checks they agree
 * with the role, and makes the import clients. Throws ConfigError (naming what is wrong) on a mistake.
 */
export function createService<R extends AnyRole>(role: R, options: ServiceOptions = {}): Service<R> {
  const env = readEnv(options.env ?? process.env, role.name);
  const manifest = readManifest(role.image);
  const where = `${path.join(role.image, "farmhand.json")}`;
  if (env.role !== role.name) throw new ConfigError(`FARMHAND_ROLE is ${JSON.stringify(env.role)} but this server implements role ${role.name}`);
  const agree = (what: "provides" | "requires") => {
    const code = Object.fromEntries(Object.entries(role[what]).map(([k, c]) => [k, c.id]));
    const names = new Set([...Object.keys(code), ...Object.keys(manifest[what])]);
    for (const k of names) {
      if (code[k] !== manifest[what][k]) {
        throw new ConfigError(`${where} ${what} ${k}: ${manifest[what][k] ?? "nothing"}, but role ${role.name} ${what} ${k}: ${code[k] ?? "nothing"}`);
      }
    }
  };
  agree("provides");
  agree("requires");

  const required = Object.entries(role.requires);
  const missing = required.filter(([name]) => env.imports[name] === undefined);
  if (missing.length > 0) {
    const list = missing.map(([name, c]) => `"${name}" (${c.id})`).join(", ");
    throw new ConfigError(
      (options.env ?? process.env).FARMHAND_IMPORTS
        ? `FARMHAND_IMPORTS has no entry for import ${list}; role ${role.name} requires it`
        : `FARMHAND_IMPORTS is not set; role ${role.name} requires import ${list}`,
    );
  }
  const log = options.log ?? (options.env ?? process.env).FARMHAND_LOG !== "0";
  for (const name of Object.keys(env.imports)) {
    if (!(name in role.requires)) console.log(`${env.vm} warning: FARMHAND_IMPORTS entry ${JSON.stringify(name)} is not an import of role ${role.name}; ignored`);
  }
  const imports = Object.fromEntries(
    required.map(([name, c]) => [
      name,
      client(c, env.imports[name], { name, timeoutMs: options.importTimeoutMs ?? 5000, validateRequests: env.development, caller: env.vm }),
    ]),
  ) as Service<R>["imports"];

  const maxBodyBytes = options.maxBodyBytes ?? 64 * 1024;
  const handlerTimeoutMs = options.handlerTimeoutMs ?? 10_000;
  const shutdownGraceMs = options.shutdownGraceMs ?? 5000;
  const routes: Route[] = [];
  const provided = new Set<string>();
  let stopping = false;
  let server: http.Server | null = null;
  const wellKnown = { vm: env.vm, role: env.role, provides: manifest.provides };

  const send = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    if (res.headersSent) return;
    const type = Object.entries(headers).find(([k]) => k.toLowerCase() === "content-type")?.[1];
    const raw = typeof body === "string" && type !== undefined && !/json/i.test(type);
    const payload = raw ? (body as string) : JSON.stringify(body);
    res.writeHead(status, {
      "content-type": raw ? type : "application/json; charset=utf-8",
      "content-length": Buffer.byteLength(payload),
      "x-served-by": env.vm,
      ...(stopping || status === 413 ? { connection: "close" } : {}),
      ...Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== "content-type")),
    });
    res.end(payload);
  };
  const fail = (res: http.ServerResponse, status: number, error: string, extra: Record<string, unknown> = {}): void =>
    send(res, status, { error, ...extra });

  const readBody = (req: http.IncomingMessage): Promise<string> =>
    new Promise((resolve, reject) => {
      const declared = Number(req.headers["content-length"] ?? 0);
      if (declared > maxBodyBytes) return reject(new HttpError(413, `request body is larger than ${maxBodyBytes} bytes`));
      const chunks: Buffer[] = [];
      let size = 0;
      req.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBodyBytes) {
          // Answer 413 and close the connection; drain (not store) whatever else the client sends.
          req.removeAllListeners("data");
          req.resume();
          reject(new HttpError(413, `request body is larger than ${maxBodyBytes} bytes`));
        } else chunks.push(chunk);
      });
      req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
      req.on("error", reject);
    });

  const parseBody = (req: http.IncomingMessage, text: string, schema: TSchema): unknown => {
    if (text === "") return Value.Check(schema, undefined) ? undefined : null;
    const type = (req.headers["content-type"] ?? "application/json").split(";")[0].trim().toLowerCase();
    if (type === "application/x-www-form-urlencoded") {
      if (/^\s*[{[]/.test(text)) throw new HttpError(415, "the body looks like JSON but is sent as a form; send content-type: application/json");
      return Value.Convert(schema, Object.fromEntries(new URLSearchParams(text)));
    }
    if (type !== "application/json" && !type.endsWith("+json")) {
      throw new HttpError(415, `content-type ${type} is not accepted; send application/json or a form`);
    }
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new HttpError(400, `request body is not JSON: ${(err as Error).message}`);
    }
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://service");
    const method = req.method ?? "GET";
    if (url.pathname === "/.well-known/farmhand" && method === "GET") {
      return send(res, 200, wellKnown);
    }
    if (url.pathname === "/healthz" && method === "GET") {
      return stopping ? fail(res, 503, "stopping") : send(res, 200, { ok: true, vm: env.vm });
    }
    let allowed: string[] = [];
    let match: { route: Route; params: Record<string, string> } | null = null;
    for (const route of routes) {
      const m = route.pattern.exec(url.pathname);
      if (m === null) continue;
      if (route.op.method !== method) {
        allowed.push(route.op.method);
        continue;
      }
      let params: Record<string, string>;
      try {
        params = Object.fromEntries(route.paramNames.map((n, i) => [n, decodeURIComponent(m[i + 1])]));
      } catch {
        return fail(res, 400, "malformed path");
      }
      match = { route, params };
      break;
    }
    if (match === null) {
      if (allowed.length > 0) return send(res, 405, { error: `${method} is not allowed on ${url.pathname}` }, { allow: allowed.join(", ") });
      return fail(res, 404, `no operation at ${method} ${url.pathname}`);
    }
    const { route, params } = match;
    const body = parseBody(req, await readBody(req), route.op.request);
    const errors = fieldErrors(route.op.request, body);
    if (errors.length > 0) {
      return fail(res, 400, `invalid request body for ${route.contractId} ${route.opName}: ${describe(errors)}`, { fields: errors });
    }
    const controller = new AbortController();
    res.on("close", () => controller.abort(new Error("client went away")));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort(new Error("handler timed out"));
        reject(new HttpError(503, `${route.contractId} ${route.opName} took longer than ${handlerTimeoutMs} ms`));
      }, handlerTimeoutMs);
    });
    let result: unknown;
    try {
      result = await Promise.race([
        Promise.resolve(route.handler({ body, params, query: url.searchParams, headers: req.headers, signal: controller.signal })),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
    const out = isReply(result) ? result : reply(200, result);
    if (env.development && out.status >= 200 && out.status < 300) {
      const bad = fieldErrors(route.op.response, out.body);
      if (bad.length > 0) {
        console.error(`${env.vm} BUG: ${route.contractId} ${route.opName} answered off-contract: ${describe(bad)}`);
        return fail(res, 500, `response of ${route.contractId} ${route.opName} does not match the contract: ${describe(bad)}`);
      }
    }
    send(res, out.status, out.body, { ...out.headers });
  };

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const started = performance.now();
    if (log) {
      res.on("finish", () => console.log(`${env.vm} ${req.method} ${req.url} ${res.statusCode} ${(performance.now() - started).toFixed(1)}ms`));
    }
    handle(req, res).catch((err: unknown) => {
      if (err instanceof HttpError) return fail(res, err.status, err.message, { ...err.extra });
      if (err instanceof DependencyError) {
        // The details name internal addresses and the dependency's own errors: they are for the
        // service's log. Whoever called this service learns only which import failed it.
        console.error(`${env.vm} dependency failed: ${err.message}`);
        return fail(res, 502, unavailable(err));
      }
      console.error(`${env.vm} internal error on ${req.method} ${req.url}:`, err);
      fail(res, 500, "internal error");
    });
  };

  const svc: Service<R> = {
    role,
    env,
    manifest,
    imports,
    provide(name, handlers) {
      const contract = role.provides[name] as AnyContract | undefined;
      if (contract === undefined) throw new ConfigError(`role ${role.name} provides no endpoint ${JSON.stringify(name)}`);
      if (provided.has(name)) throw new ConfigError(`endpoint ${name} is provided twice`);
      for (const [opName, op] of Object.entries(contract.operations)) {
        const handler = (handlers as Record<string, Route["handler"] | undefined>)[opName];
        if (typeof handler !== "function") throw new ConfigError(`endpoint ${name} (${contract.id}): no handler for operation ${opName}`);
        for (const other of routes) {
          if (other.op.method === op.method && other.op.path === op.path) {
            throw new ConfigError(`${contract.id} ${opName} and ${other.contractId} ${other.opName} both serve ${op.method} ${op.path}`);
          }
        }
        routes.push({ contractId: contract.id, opName, op, handler, ...compilePath(op.path) });
      }
      provided.add(name);
      return svc;
    },
    listen() {
      const notProvided = Object.keys(role.provides).filter((n) => !provided.has(n));
      if (notProvided.length > 0) return Promise.reject(new ConfigError(`no handlers for endpoint ${notProvided.join(", ")}`));
      // Literal paths win over templates (/orders before /orders/{id}): fewer parameters first.
      routes.sort((a, b) => a.paramNames.length - b.paramNames.length);
      const s = http.createServer({ requestTimeout: options.requestTimeoutMs ?? 15_000, headersTimeout: 10_000, keepAliveTimeout: 5000 }, onRequest);
      server = s;
      return new Promise((resolve, reject) => {
        s.once("error", (err) => reject(new ConfigError(`cannot listen on ${env.listen.host}:${env.listen.port}: ${err.message}`)));
        s.listen(env.listen.port, env.listen.host, () => {
          const a = s.address() as { address: string; port: number };
          const host = a.address.includes(":") ? `[${a.address}]` : a.address;
          console.log(`${env.vm} (${role.name}) listening on http://${host}:${a.port}`);
          resolve({ host: a.address, port: a.port, url: `http://${host}:${a.port}` });
        });
      });
    },
    close() {
      stopping = true;
      const s = server;
      if (s === null) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const cut = setTimeout(() => s.closeAllConnections(), shutdownGraceMs);
        cut.unref();
        s.close(() => {
          clearTimeout(cut);
          resolve();
        });
        s.closeIdleConnections();
      });
    },
  };

  if (options.handleSignals ?? true) {
    const stop = (signal: string) => {
      if (stopping) return;
      console.log(`${env.vm} ${signal}: stopping`);
      svc.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  }
  return svc;
}

/**
 * createService for a server's entry module: on a ConfigError prints
 * `<role>: configuration error: <message>` to stderr and exits 78 (EX_CONFIG).
 */
export function service<R extends AnyRole>(role: R, options: ServiceOptions = {}): Service<R> {
  try {
    return createService(role, options);
  } catch (err) {
    return exitOnConfigError(role.name, err);
  }
}

/** Awaits `svc.listen()`, exiting 78 with a clear message when the address cannot be taken. */
export async function start<R extends AnyRole>(svc: Service<R>): Promise<void> {
  try {
    await svc.listen();
  } catch (err) {
    exitOnConfigError(svc.role.name, err);
  }
}

function exitOnConfigError(who: string, err: unknown): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`${who}: configuration error: ${err.message}\n`);
    process.exit(78);
  }
  throw err;
}
