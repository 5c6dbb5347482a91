// The server half of the service kit: node:http serving contract operations. Each operation's route
// goes to its handler with the request body already validated (400 naming the fields); responses are
// validated too in development; GET /.well-known/farmhand, GET /healthz and GET /metrics (metrics.ts)
// are answered here; body size and handler time are bounded; every answer says which VM served it;
// close() lets what is in flight finish.

import http from "node:http";
import { performance } from "node:perf_hooks";
import type { TSchema } from "typebox";
import Value from "typebox/value";
import { httpUrl } from "../../native-free-core/net/address.ts";
import type { AnyContract, Operation, RequestOf, ResponseOf } from "../contracts/index.ts";
import { WELL_KNOWN_PATH, type AnnouncementBody } from "./contract.ts";
import { DependencyError, HttpError, ServiceConfigError } from "./errors.ts";
import { describeFields, fieldErrors } from "./fields.ts";
import type { ServiceLog } from "./log.ts";
import { METRICS_PATH, ServiceMetrics, type RequestRecord } from "./metrics.ts";

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

const replyBrand = Symbol("reply");

/** A response with a status and headers other than the default (200, JSON). */
export interface Reply<Body> {
  readonly [replyBrand]: true;
  readonly status: number;
  readonly body: Body;
  readonly headers: Readonly<Record<string, string>>;
}

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

export interface ServerOptions {
  /** The VM's name: stamped on every answer (x-served-by), named in the log. */
  readonly vm: string;
  /** What GET /.well-known/farmhand answers. */
  readonly announcement: AnnouncementBody;
  readonly log: ServiceLog;
  /** One log line per request. */
  readonly logRequests: boolean;
  /** Validate responses too: an off-contract answer is a 500 and a "BUG" line in the log. */
  readonly development: boolean;
  readonly maxBodyBytes: number;
  readonly handlerTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly shutdownGraceMs: number;
  /** SHA-256 (hex) of the token GET /metrics asks for; null: metrics answer only on loopback. */
  readonly metricsTokenSha256: string | null;
}

interface Route {
  readonly endpoint: string;
  readonly contractId: string;
  readonly opName: string;
  readonly op: Operation;
  readonly pattern: RegExp;
  readonly paramNames: readonly string[];
  readonly handler: (req: Incoming<unknown>) => unknown;
}

function compilePath(template: string): { pattern: RegExp; paramNames: string[] } {
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
}

/** Paths the kit answers before any route: an operation at one of them would never be reached. */
const KIT_PATHS: readonly string[] = [WELL_KNOWN_PATH, "/healthz", METRICS_PATH];

/** What a caller is told when an import failed the request: the import's name, no details. */
const unavailable = (err: DependencyError): string => `${err.importName} unavailable`;

export class ServiceServer {
  readonly #options: ServerOptions;
  readonly #routes: Route[] = [];
  readonly #metrics: ServiceMetrics;
  #server: http.Server | null = null;
  #stopping = false;

  constructor(options: ServerOptions) {
    this.#options = options;
    this.#metrics = new ServiceMetrics(options.metricsTokenSha256);
  }

  /** Routes each operation of `contract` to its handler; a route another operation has is refused. */
  serve(contract: AnyContract, handlers: Readonly<Record<string, unknown>>, endpoint: string): void {
    const routes: Route[] = [];
    for (const [opName, op] of Object.entries(contract.operations)) {
      const handler = handlers[opName];
      if (typeof handler !== "function") throw new ServiceConfigError(`endpoint ${endpoint} (${contract.id}): no handler for operation ${opName}`);
      if (op.method === "GET" && KIT_PATHS.includes(op.path)) {
        throw new ServiceConfigError(`${contract.id} ${opName} serves GET ${op.path}, which the service kit answers itself`);
      }
      for (const other of [...this.#routes, ...routes]) {
        if (other.op.method === op.method && other.op.path === op.path) {
          throw new ServiceConfigError(`${contract.id} ${opName} and ${other.contractId} ${other.opName} both serve ${op.method} ${op.path}`);
        }
      }
      routes.push({ endpoint, contractId: contract.id, opName, op, handler: handler as Route["handler"], ...compilePath(op.path) });
    }
    this.#routes.push(...routes);
  }

  listen(host: string, port: number): Promise<{ readonly host: string; readonly port: number; readonly url: string }> {
    // Literal paths win over templates (/orders before /orders/{id}): fewer parameters first.
    this.#routes.sort((a, b) => a.paramNames.length - b.paramNames.length);
    for (const route of this.#routes) this.#metrics.declare(route.endpoint, route.opName);
    const s = http.createServer(
      { requestTimeout: this.#options.requestTimeoutMs, headersTimeout: 10_000, keepAliveTimeout: 5000 },
      (req, res) => this.#onRequest(req, res),
    );
    this.#server = s;
    return new Promise((resolve, reject) => {
      s.once("error", (err) => reject(new ServiceConfigError(`cannot listen on ${host}:${port}: ${err.message}`)));
      s.listen(port, host, () => {
        const a = s.address() as { address: string; port: number };
        resolve({ host: a.address, port: a.port, url: httpUrl({ host: a.address, port: a.port }) });
      });
    });
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  /** Stops accepting, lets in-flight requests finish (up to the grace period), closes. */
  close(): Promise<void> {
    this.#stopping = true;
    const s = this.#server;
    if (s === null) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const cut = setTimeout(() => s.closeAllConnections(), this.#options.shutdownGraceMs);
      cut.unref();
      s.close(() => {
        clearTimeout(cut);
        resolve();
      });
      s.closeIdleConnections();
    });
  }

  #onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const { log, logRequests } = this.#options;
    const started = performance.now();
    if (logRequests) {
      res.on("finish", () => log.info(`${req.method} ${req.url} ${res.statusCode} ${(performance.now() - started).toFixed(1)}ms`));
    }
    this.#handle(req, res, this.#metrics.track(res)).catch((err: unknown) => {
      if (err instanceof HttpError) return this.#fail(res, err.status, err.message, { ...err.extra });
      if (err instanceof DependencyError) {
        // The details name internal addresses and the dependency's own errors: they are for the
        // service's log. Whoever called this service learns only which import failed it.
        log.error(`dependency failed: ${err.message}`);
        return this.#fail(res, 502, unavailable(err));
      }
      log.error(`internal error on ${req.method} ${req.url}:`, err);
      this.#fail(res, 500, "internal error");
    });
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse, record: RequestRecord): Promise<void> {
    const { announcement, development, handlerTimeoutMs, log, vm } = this.#options;
    const url = new URL(req.url ?? "/", "http://service");
    const method = req.method ?? "GET";
    if (url.pathname === WELL_KNOWN_PATH && method === "GET") {
      this.#metrics.kitPath(record, "announce");
      return this.#send(res, 200, announcement);
    }
    if (url.pathname === "/healthz" && method === "GET") {
      this.#metrics.kitPath(record, "healthz");
      return this.#stopping ? this.#fail(res, 503, "stopping") : this.#send(res, 200, { ok: true, vm });
    }
    if (url.pathname === METRICS_PATH && method === "GET") {
      this.#metrics.kitPath(record, "metrics");
      const refused = this.#metrics.refusal(req);
      if (refused !== null) return this.#send(res, refused.status, { error: refused.error }, { ...refused.headers });
      const { contentType, body } = await this.#metrics.text();
      return this.#send(res, 200, body, { "content-type": contentType, "cache-control": "no-store" });
    }
    const found = this.#match(method, url.pathname);
    if (found === null) return this.#fail(res, 404, `no operation at ${method} ${url.pathname}`);
    if ("allowed" in found) return this.#send(res, 405, { error: `${method} is not allowed on ${url.pathname}` }, { allow: found.allowed.join(", ") });
    const { route, params } = found;
    this.#metrics.operation(record, route.endpoint, route.opName);
    const body = parseBody(req, await readBody(req, this.#options.maxBodyBytes), route.op.request);
    let errors;
    try {
      errors = fieldErrors(route.op.request, body);
    } catch (error) {
      // As the balancer's check answers it: a recursive schema walks a body as deep as it is nested.
      if (error instanceof RangeError) return this.#fail(res, 400, `invalid request body for ${route.contractId} ${route.opName}: nested too deeply to check`);
      throw error;
    }
    if (errors.length > 0) {
      return this.#fail(res, 400, `invalid request body for ${route.contractId} ${route.opName}: ${describeFields(errors)}`, { fields: errors });
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
    if (development && out.status >= 200 && out.status < 300) {
      const bad = fieldErrors(route.op.response, out.body);
      if (bad.length > 0) {
        log.error(`BUG: ${route.contractId} ${route.opName} answered off-contract: ${describeFields(bad)}`);
        return this.#fail(res, 500, `response of ${route.contractId} ${route.opName} does not match the contract: ${describeFields(bad)}`);
      }
    }
    this.#send(res, out.status, out.body, { ...out.headers });
  }

  /** The route of `method` `pathname`, or the methods other routes of that path allow, or null. */
  #match(method: string, pathname: string): { route: Route; params: Record<string, string> } | { allowed: string[] } | null {
    const allowed: string[] = [];
    for (const route of this.#routes) {
      const m = route.pattern.exec(pathname);
      if (m === null) continue;
      if (route.op.method !== method) {
        allowed.push(route.op.method);
        continue;
      }
      try {
        return { route, params: Object.fromEntries(route.paramNames.map((n, i) => [n, decodeURIComponent(m[i + 1])])) };
      } catch {
        throw new HttpError(400, "malformed path");
      }
    }
    return allowed.length > 0 ? { allowed } : null;
  }

  #send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    if (res.headersSent) return;
    const type = Object.entries(headers).find(([k]) => k.toLowerCase() === "content-type")?.[1];
    const raw = typeof body === "string" && type !== undefined && !/json/i.test(type);
    const payload = raw ? (body as string) : JSON.stringify(body);
    res.writeHead(status, {
      "content-type": raw ? type : "application/json; charset=utf-8",
      "content-length": Buffer.byteLength(payload),
      "x-served-by": this.#options.vm,
      ...(this.#stopping || status === 413 ? { connection: "close" } : {}),
      ...Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== "content-type")),
    });
    res.end(payload);
  }

  #fail(res: http.ServerResponse, status: number, error: string, extra: Record<string, unknown> = {}): void {
    this.#send(res, status, { error, ...extra });
  }
}

function readBody(req: http.IncomingMessage, maxBodyBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
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
}

/** The body as JSON or, for a browser's form post, as the schema's types converted from the form's strings. */
function parseBody(req: http.IncomingMessage, text: string, schema: TSchema): unknown {
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
}
