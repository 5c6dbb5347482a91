// The admin API: a small JSON-over-HTTP front for AdminControl, plus the Prometheus scrape endpoint.
//
// Security by default: without a token it listens only on loopback, and even there it refuses what a
// browser could send it on a web page's behalf (a cross-site form POST, a DNS-rebound hostname), since
// a loopback port is reachable from any page the operator has open. With a token, every route but
// GET /healthz needs it; a browser cannot attach it cross-origin without a CORS preflight, which this
// server never grants.

import { createHash, timingSafeEqual } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { normalizePoolBackends } from "../config-load.ts";
import { backendId, type AdminConfig } from "../config.ts";
import {
  ConfigError,
  InsecureAdminError,
  ListenError,
  ProxyError,
  UnknownBackendError,
  UnknownPoolError,
} from "../errors.ts";
import { httpUrl, isLoopback } from "../net/address.ts";
import type { AdminControl, PoolStatus } from "../status.ts";
import { renderStatsPage } from "./stats-page.ts";

export interface AdminServer {
  /** Base URL, e.g. "http://127.0.0.1:9901". */
  readonly url: string;
  readonly port: number;
  /**
   * Requires another token from the next request on (its SHA-256 digest, or null for none), without
   * rebinding: open connections stay. Throws, changing nothing, what startAdminServer would refuse.
   */
  setTokenSha256(tokenSha256: string | null): void;
  /** Stops listening; in-flight requests get a grace period. Safe to call again. */
  close(): Promise<void>;
}

/** Largest request body accepted; a full backend list is far smaller. */
export const MAX_ADMIN_BODY_BYTES = 1024 * 1024;
/**
 * Deepest nesting of arrays and objects accepted in a body; a valid one nests two deep. Checked before
 * parsing, since what follows a parse (validation, error messages) recurses over the value.
 */
export const MAX_ADMIN_JSON_DEPTH = 64;
/** The whole request (head and body) must arrive within this; slow clients only hold a socket this long. */
const REQUEST_TIMEOUT_MS = 10_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
const MAX_HEADERS = 64;
const MAX_HEADER_BYTES = 16 * 1024;
/** close() waits this long for requests in progress before cutting their connections. */
const CLOSE_GRACE_MS = 2_000;
const MIN_WEIGHT = 1;
const MAX_WEIGHT = 1000;

/** An error answered with its own status; `code` is stable, like the ProxyError codes. */
class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Readonly<Record<string, string>>;
  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

// Missing and wrong tokens get the very same answer, so a caller learns nothing about which it was.
const unauthorized = () =>
  new HttpError(401, "FARMHAND_ADMIN_UNAUTHORIZED", "a valid bearer token is required", { "www-authenticate": "Bearer" });
const bodyTooLarge = () =>
  new HttpError(413, "FARMHAND_ADMIN_BODY_TOO_LARGE", `request body exceeds ${MAX_ADMIN_BODY_BYTES} bytes`);

// ---------------------------------------------------------------------------------------------
// Routes

interface Request {
  readonly params: Readonly<Record<string, string>>;
  /** The body parsed as JSON; throws a 400 when it is not JSON. */
  json(): unknown;
}

type Reply =
  | { readonly status: number; readonly json: unknown; readonly headers?: Record<string, string> }
  | { readonly status: number; readonly text: string; readonly contentType: string };

interface Route {
  readonly method: string;
  readonly segments: readonly string[];
  readonly handle: (control: AdminControl, req: Request) => Reply | Promise<Reply>;
}

function route(method: string, pattern: string, handle: Route["handle"]): Route {
  return { method, segments: pattern.split("/").slice(1), handle };
}

const ROUTES: readonly Route[] = [
  route("GET", "/healthz", () => ({ status: 200, json: { status: "ok" } })),
  route("GET", "/metrics", async (c) => {
    const { contentType, body } = await c.metrics();
    return { status: 200, text: body, contentType };
  }),
  // The same figures for a person: one HTML page, behind the same token as /metrics.
  route("GET", "/stats", (c) => ({ status: 200, text: renderStatsPage(c), contentType: "text/html; charset=utf-8" })),
  route("GET", "/workers", (c) => ({ status: 200, json: { workers: c.workers() } })),
  route("GET", "/pools", (c) => ({ status: 200, json: { pools: c.pools().map(poolJson) } })),
  route("GET", "/pools/:pool", (c, r) => ({ status: 200, json: poolJson(c.pool(r.params.pool)) })),
  route("PUT", "/pools/:pool/backends", (c, r) => {
    const backends = normalizePoolBackends(r.json(), "body");
    return { status: 200, json: poolJson(c.replaceBackends(r.params.pool, backends)) };
  }),
  route("POST", "/pools/:pool/backends", (c, r) => {
    const [backend] = normalizePoolBackends([r.json()], "body");
    const pool = c.addBackend(r.params.pool, backend);
    const id = backendId(backend);
    const location = `/pools/${encodeURIComponent(r.params.pool)}/backends/${encodeURIComponent(id)}`;
    return { status: 201, json: poolJson(pool), headers: { location } };
  }),
  // 202: the backend drains before it is forgotten, so the removal is under way, not done.
  route("DELETE", "/pools/:pool/backends/:id", (c, r) => ({
    status: 202,
    json: poolJson(c.removeBackend(r.params.pool, r.params.id)),
  })),
  route("PATCH", "/pools/:pool/backends/:id", (c, r) => ({
    status: 200,
    json: poolJson(c.setWeight(r.params.pool, r.params.id, weightFrom(r.json()))),
  })),
  route("POST", "/pools/:pool/backends/:id/drain", (c, r) => ({
    status: 202,
    json: poolJson(c.drainBackend(r.params.pool, r.params.id)),
  })),
];

/** Slots are shared-memory bookkeeping, meaningless outside the process. */
function poolJson(pool: PoolStatus): unknown {
  const { slot: _slot, backends, ...rest } = pool;
  return { ...rest, backends: backends.map(({ slot: _s, ...b }) => b) };
}

function weightFrom(body: unknown): number {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new ConfigError("<inline>", "body", body, `expected an object: { "weight": ${MIN_WEIGHT}..${MAX_WEIGHT} }`);
  }
  for (const key of Object.keys(body)) {
    if (key !== "weight") throw new ConfigError("<inline>", `body.${key}`, (body as Record<string, unknown>)[key], "unknown field (only weight may be changed)");
  }
  const weight = (body as { weight?: unknown }).weight;
  if (typeof weight !== "number" || !Number.isInteger(weight) || weight < MIN_WEIGHT || weight > MAX_WEIGHT) {
    throw new ConfigError("<inline>", "body.weight", weight, `expected an integer between ${MIN_WEIGHT} and ${MAX_WEIGHT}`);
  }
  return weight;
}

/** The route for a path, or the methods the path would accept (empty: no such path). */
function match(method: string, segments: readonly string[]): { route: Route; params: Record<string, string> } | { allow: string[] } {
  const allow: string[] = [];
  for (const r of ROUTES) {
    if (r.segments.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const fits = r.segments.every((p, i) => {
      if (p.startsWith(":")) {
        params[p.slice(1)] = segments[i];
        return segments[i] !== "";
      }
      return p === segments[i];
    });
    if (!fits) continue;
    if (r.method === method) return { route: r, params };
    allow.push(r.method);
  }
  return { allow };
}

/** Path segments, percent-decoded (backend ids arrive as e.g. "127.0.0.1%3A9001"). */
function pathSegments(url: string): string[] {
  const path = url.split(/[?#]/, 1)[0];
  if (!path.startsWith("/")) throw new HttpError(404, "FARMHAND_ADMIN_NOT_FOUND", "no such route");
  try {
    return path.split("/").slice(1).map(decodeURIComponent);
  } catch {
    throw new HttpError(400, "FARMHAND_ADMIN_BAD_PATH", "the path is not valid percent-encoding");
  }
}

// ---------------------------------------------------------------------------------------------
// Server

/** Throws what startAdminServer would refuse about `config` (a tokenless non-loopback address, a malformed digest). */
export function checkAdminConfig(config: AdminConfig): void {
  if (config.tokenSha256 === null && !isLoopback(config.address)) throw new InsecureAdminError(config.address);
  if (config.tokenSha256 !== null && !/^[0-9a-f]{64}$/.test(config.tokenSha256)) {
    throw new ConfigError("<inline>", "admin.tokenSha256", `<redacted, ${String(config.tokenSha256).length} characters>`, "expected 64 lowercase hexadecimal digits (use null for no token)");
  }
}

export async function startAdminServer(config: AdminConfig, control: AdminControl): Promise<AdminServer> {
  checkAdminConfig(config);
  // Read by every request, so a new token applies at once.
  const auth = { tokenDigest: digestOf(config.tokenSha256), metricsDigest: digestOf(config.metricsTokenSha256 ?? null) };

  const server = http.createServer({
    maxHeaderSize: MAX_HEADER_BYTES,
    requestTimeout: REQUEST_TIMEOUT_MS,
    headersTimeout: REQUEST_TIMEOUT_MS,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    // Node enforces the two timeouts above only when it checks, every this often (default 30 s).
    connectionsCheckingInterval: 1_000,
  });
  server.maxHeadersCount = MAX_HEADERS;

  server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    handle(req, res, control, auth.tokenDigest, auth.metricsDigest).catch((error: unknown) => {
      // Only reachable if writing the response itself failed; the connection is of no further use.
      res.destroy(error instanceof Error ? error : undefined);
    });
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => {
      // Never listening, it holds no connections; closing only releases the handle.
      server.close(() => {});
      reject(new ListenError("admin", config.address, config.port, error));
    };
    server.once("error", onError);
    server.listen({ host: config.address, port: config.port }, () => {
      server.off("error", onError);
      resolve();
    });
  });

  const port = (server.address() as AddressInfo).port;
  let closed: Promise<void> | null = null;
  return {
    url: httpUrl({ host: config.address, port }),
    port,
    setTokenSha256(tokenSha256) {
      checkAdminConfig({ ...config, tokenSha256 });
      auth.tokenDigest = digestOf(tokenSha256);
    },
    close: () =>
      (closed ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS).unref();
      })),
  };
}

async function handle(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  control: AdminControl,
  tokenDigest: Buffer | null,
  metricsDigest: Buffer | null = null,
): Promise<void> {
  let reply: Reply;
  try {
    const method = req.method ?? "GET";
    const segments = pathSegments(req.url ?? "/");
    // Probes must work without credentials; they learn nothing but that the process is alive.
    const open = method === "GET" && segments.length === 1 && segments[0] === "healthz";
    // The read-only token opens what a scraper reads, and nothing that changes anything.
    const readOnly = method === "GET" && segments.length === 1 && (segments[0] === "metrics" || segments[0] === "stats");
    if (!open && !(readOnly && metricsDigest !== null && bearerMatches(req, metricsDigest))) admit(req, tokenDigest);
    const found = match(method, segments);
    if (!("route" in found)) {
      if (found.allow.length === 0) throw new HttpError(404, "FARMHAND_ADMIN_NOT_FOUND", `no route for ${method} ${req.url}`);
      const allow = found.allow.join(", ");
      throw new HttpError(405, "FARMHAND_ADMIN_METHOD_NOT_ALLOWED", `${method} not allowed here (allowed: ${allow})`, { allow });
    }
    const body = await readBody(req);
    reply = await found.route.handle(control, { params: found.params, json: () => parseJson(body) });
  } catch (error) {
    reply = errorReply(error);
  }
  send(req, res, reply);
}

/** Whether the request carries the bearer token whose digest is given (compared in constant time). */
function bearerMatches(req: http.IncomingMessage, digest: Buffer): boolean {
  const m = /^Bearer[ \t]+(.*?)[ \t]*$/i.exec(req.headers.authorization ?? "");
  // Comparing digests keeps the comparison constant-time even when the lengths differ.
  return m !== null && timingSafeEqual(sha256(m[1]), digest);
}

/** Throws unless the request may use the API: the right token, or (with none configured) not a browser's doing. */
function admit(req: http.IncomingMessage, tokenDigest: Buffer | null): void {
  if (tokenDigest !== null) {
    if (!bearerMatches(req, tokenDigest)) throw unauthorized();
    return;
  }
  // Browsers add Origin to cross-site POSTs; command-line clients and scrapers never do.
  if (req.headers.origin !== undefined) {
    throw new HttpError(403, "FARMHAND_ADMIN_FORBIDDEN", "requests from web pages are refused without an admin token");
  }
  // A page can rebind its own hostname to 127.0.0.1; its requests still carry that hostname.
  const host = req.headers.host;
  if (host !== undefined && !isLoopback(hostOf(host))) {
    throw new HttpError(403, "FARMHAND_ADMIN_FORBIDDEN", "the Host header must name a loopback address without an admin token");
  }
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > MAX_ADMIN_BODY_BYTES) return Promise.reject(bodyTooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_ADMIN_BODY_BYTES) {
        req.off("data", onData);
        req.pause();
        reject(bodyTooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on("data", onData);
    req.once("end", () => resolve(Buffer.concat(chunks)));
    req.once("error", reject);
  });
}

function parseJson(body: Buffer): unknown {
  if (body.length === 0) throw new HttpError(400, "FARMHAND_ADMIN_BAD_JSON", "a JSON request body is required");
  if (nestingExceeds(body, MAX_ADMIN_JSON_DEPTH)) {
    throw new HttpError(400, "FARMHAND_ADMIN_BAD_JSON", `request body nests arrays and objects deeper than ${MAX_ADMIN_JSON_DEPTH} levels`);
  }
  try {
    return JSON.parse(body.toString("utf8"));
  } catch (error) {
    throw new HttpError(400, "FARMHAND_ADMIN_BAD_JSON", `request body is not valid JSON: ${(error as Error).message}`);
  }
}

/**
 * Whether JSON text opens more than `limit` arrays and objects at once: one pass over the bytes,
 * counting brackets outside strings. Malformed text is JSON.parse's to refuse; this only bounds depth.
 */
function nestingExceeds(body: Buffer, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next byte, a quote included
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}

function errorReply(error: unknown): Reply {
  const body = (code: string, message: string, extra: Record<string, unknown> = {}) => ({ error: { code, message, ...extra } });
  if (error instanceof HttpError) {
    return { status: error.status, json: body(error.code, error.message), headers: { ...error.headers } };
  }
  if (error instanceof ConfigError) {
    return { status: 400, json: body(error.code, error.message, { field: error.field }) };
  }
  if (error instanceof UnknownPoolError || error instanceof UnknownBackendError) {
    return { status: 404, json: body(error.code, error.message) };
  }
  // Any other deliberate refusal (e.g. statistics capacity) conflicts with the balancer's state.
  if (error instanceof ProxyError) return { status: 409, json: body(error.code, error.message) };
  return { status: 500, json: body("FARMHAND_ADMIN_INTERNAL", `internal error: ${(error as Error)?.message ?? String(error)}`) };
}

function send(req: http.IncomingMessage, res: http.ServerResponse, reply: Reply): void {
  const isJson = "json" in reply;
  const payload = isJson ? JSON.stringify(reply.json) + "\n" : reply.text;
  const headers: Record<string, string | number> = {
    "content-type": isJson ? "application/json; charset=utf-8" : reply.contentType,
    "content-length": Buffer.byteLength(payload),
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    // The stats page loads nothing and runs nothing; its own inline style is all it needs.
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
    ...(isJson ? reply.headers : undefined),
  };
  // An unread body (refused before reading, or cut off at the limit) is not worth draining.
  if (!req.complete) headers.connection = "close";
  res.writeHead(reply.status, headers);
  res.end(payload);
}

// ---------------------------------------------------------------------------------------------
// Helpers

function sha256(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

function digestOf(tokenSha256: string | null): Buffer | null {
  return tokenSha256 === null ? null : Buffer.from(tokenSha256, "hex");
}

/** The host part of a Host header: "127.0.0.1:80" → "127.0.0.1", "[::1]:80" → "::1". */
function hostOf(header: string): string {
  const bracketed = /^\[([^\]]*)\]/.exec(header);
  if (bracketed) return bracketed[1];
  return header.split(":", 1)[0];
}
