// The balancer's configuration: its shape, its defaults, and nothing else.
// Parsing and validation live in config-load.ts so that worker threads can import these types
// without pulling in the YAML parser.

import { formatHostPort } from "./net/address.ts";

export type Protocol = "http" | "tcp";
export type PolicyName = "round-robin" | "least-request" | "consistent-hash" | "random";

/** What consistent hashing hashes: the client's address, or the value of one request header. */
export type HashKey = { readonly kind: "client-address" } | { readonly kind: "header"; readonly name: string };

export interface BackendConfig {
  /** IPv4/IPv6 literal or host name; only loopback is used in this project's tests. */
  readonly address: string;
  readonly port: number;
  /** Relative share of traffic, 1..1000. */
  readonly weight: number;
  /** A backup takes traffic only while no other backend of its pool is routable (failover). */
  readonly backup: boolean;
}

/** A backend as callers may give it at run time: weight defaults to 1, backup to false. */
export type BackendSpec = Pick<BackendConfig, "address" | "port"> & Partial<Pick<BackendConfig, "weight" | "backup">>;

export interface HealthCheckOptions {
  readonly path: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Consecutive passes that bring a down backend back up. */
  readonly rise: number;
  /** Consecutive failures that take an up backend down. */
  readonly fall: number;
}

export interface OutlierDetectionOptions {
  /** Consecutive 5xx responses that eject a backend (0 disables). */
  readonly consecutive5xx: number;
  /** Consecutive connect failures, resets or timeouts that eject a backend (0 disables). */
  readonly consecutiveConnectFailures: number;
  /** First ejection lasts this long; each repeated ejection lasts one base longer. */
  readonly baseEjectionMs: number;
  readonly maxEjectionMs: number;
  /** At most this share of a pool is ejected at once; one backend may always be ejected when the pool has two or more. */
  readonly maxEjectedPercent: number;
}

export interface UpstreamOptions {
  /** Connections per backend per worker thread. */
  readonly maxConnectionsPerBackend: number;
  /** Requests waiting for a connection per backend per worker; past it the proxy answers 503. */
  readonly maxQueue: number;
  readonly queueTimeoutMs: number;
  readonly connectTimeoutMs: number;
  /** From the request's end to the response head's end; past it the proxy answers 504. */
  readonly responseTimeoutMs: number;
  /** An idle pooled connection is closed after this long. */
  readonly idleTimeoutMs: number;
  /**
   * Requests one connection may carry at once. Above 1, GET and HEAD requests without a body are
   * pipelined (RFC 9112 section 9.3.2) behind others; opt in only for backends that handle it well.
   */
  readonly pipelining: number;
  /**
   * A connection carries at most this many requests, then closes (0: no limit): set below a backend's
   * own limit so that the backend never closes a connection a request is already on its way over.
   */
  readonly maxRequestsPerConnection: number;
  /**
   * Requests one worker thread holds while the pool has no routable backend (a group scaled to zero,
   * its only replica restarting), each until a backend becomes routable or `emptyPoolHoldMs` passes,
   * then 503 with a reason. 0: answer 503 at once.
   */
  readonly emptyPoolHold: number;
  readonly emptyPoolHoldMs: number;
}

export interface PoolConfig {
  readonly name: string;
  readonly policy: PolicyName;
  /** Only for consistent-hash. */
  readonly hashKey: HashKey;
  readonly backends: readonly BackendConfig[];
  /** null: no active checks, every backend is taken as up. */
  readonly healthCheck: HealthCheckOptions | null;
  readonly outlierDetection: OutlierDetectionOptions;
  /** A backend that joins (or comes back) takes a growing share of traffic over this long; 0 disables. */
  readonly slowStartMs: number;
  readonly upstream: UpstreamOptions;
}

export interface ListenerConfig {
  readonly name: string;
  readonly protocol: Protocol;
  readonly address: string;
  readonly port: number;
  readonly pool: string;
  /**
   * The contract this listener serves ("orders@1"), or null. When set, the listener answers
   * GET /.well-known/farmhand itself, so a farm can check what its endpoint speaks.
   */
  readonly contract: string | null;
  /**
   * Path-prefix routes (HTTP only): a request whose path starts with a route's prefix goes to that
   * route's pool (the longest prefix wins); any other request goes to `pool`.
   */
  readonly routes: readonly RouteConfig[];
  /**
   * Contract checks (HTTP only), or null: each request is matched to an operation by method and path
   * and its body validated against the operation's request schema before any backend sees it.
   */
  readonly validate: ValidationConfig | null;
}

/** One operation of the contract a listener checks requests against. */
export interface OperationSpec {
  readonly name: string;
  readonly method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** "/orders/{id}": a "{name}" stands for one non-empty path segment. */
  readonly path: string;
  /** JSON Schema of the request body ({ "type": "null" } for none). */
  readonly request: JsonSchema;
}

/** A JSON Schema as plain data: what image manifests carry and TypeBox contracts serialize to. */
export type JsonSchema = boolean | { readonly [keyword: string]: unknown };

export interface ValidationConfig {
  /** Every operation requests may be matched to (at most MAX_VALIDATED_OPERATIONS). */
  readonly operations: readonly OperationSpec[];
  /** Bodies up to this size are validated on the I/O thread; larger ones on the validation pool. */
  readonly inlineBodyBytes: number;
  /** A body larger than this gets 413 and never reaches a backend. */
  readonly maxBodyBytes: number;
}

/** The threads that validate large bodies, one pool per worker thread, started on first use. */
export interface ValidationPoolOptions {
  readonly threads: number;
  /**
   * Request-body bytes one worker thread holds for validation at once, from the first byte read
   * until the body is handed to a backend connection, and for a body checked on a validation thread
   * until the backend has answered it and taken it all. Reserved before a byte is read: a declared length
   * as it is, or rounded up to a power of two (the store it is gathered in) past inlineBodyBytes; a
   * chunked body counts twice, raw and decoded, as it comes, and past inlineBodyBytes itself and
   * its store once whole. Past it a request gets 503 with
   * Retry-After. Besides, stores up to a quarter of it stay allocated between bodies.
   */
  readonly memoryBytes: number;
}

export interface RouteConfig {
  /** Matches ROUTE_PREFIX. */
  readonly prefix: string;
  readonly pool: string;
}

/**
 * What a route prefix may be: "/" and then the characters of a URL path (RFC 3986's unreserved and
 * sub-delims, ":", "@", "%" of an escape, and "/"). Anything else could never begin a request target
 * a client sends, which is what a prefix is compared with, byte for byte.
 */
export const ROUTE_PREFIX = /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/;

export interface HttpLimits {
  readonly maxRequestLineBytes: number;
  readonly maxHeadBytes: number;
  readonly maxHeaderCount: number;
  /** The whole request head must arrive within this (slowloris defence); past it: 408. */
  readonly headTimeoutMs: number;
  /** An idle keep-alive client connection is closed after this long. */
  readonly keepAliveTimeoutMs: number;
  /** Longest pause between two pieces of a request body. */
  readonly bodyTimeoutMs: number;
  /**
   * Request bodies up to this size are read whole before an upstream connection is taken, so a
   * client that sends its body slowly holds only its own socket, never a backend's (0: stream every
   * body at once).
   */
  readonly bufferBodyBytes: number;
  /**
   * A body that streams must arrive at no less than this many bytes per second, measured over
   * 10-second windows in which the proxy was reading from the client (0: no minimum). Past it: 408.
   */
  readonly minBodyBytesPerSecond: number;
  /** Addresses whose X-Forwarded-For is extended; from anyone else it is overwritten. */
  readonly trustedProxies: readonly string[];
}

export interface AdminConfig {
  readonly address: string;
  readonly port: number;
  /**
   * SHA-256 digest of the bearer token, 64 lowercase hex digits; null: no token, allowed only on a
   * loopback address. Only the digest is kept, so a running balancer (its config, a heap dump, the
   * admin API) never holds the token itself.
   */
  readonly tokenSha256: string | null;
  /**
   * SHA-256 digest of a second, read-only token: it opens GET /metrics and GET /stats and nothing
   * else (what a Prometheus server scrapes with). null: only the admin token reads them.
   */
  readonly metricsTokenSha256?: string | null;
}

export interface ProxyConfig {
  readonly workers: number;
  readonly listeners: readonly ListenerConfig[];
  readonly pools: readonly PoolConfig[];
  readonly http: HttpLimits;
  /** null: no admin API. */
  readonly admin: AdminConfig | null;
  /** On SIGTERM, in-flight requests get this long to finish. */
  readonly drainTimeoutMs: number;
  readonly validation: ValidationPoolOptions;
}

export const DEFAULT_HEALTH_CHECK: HealthCheckOptions = {
  path: "/healthz",
  intervalMs: 2000,
  timeoutMs: 1000,
  rise: 2,
  fall: 3,
};

export const DEFAULT_OUTLIER_DETECTION: OutlierDetectionOptions = {
  consecutive5xx: 5,
  consecutiveConnectFailures: 3,
  baseEjectionMs: 10_000,
  maxEjectionMs: 300_000,
  maxEjectedPercent: 50,
};

export const DEFAULT_UPSTREAM: UpstreamOptions = {
  maxConnectionsPerBackend: 256,
  maxQueue: 1024,
  queueTimeoutMs: 5_000,
  connectTimeoutMs: 2_000,
  responseTimeoutMs: 30_000,
  idleTimeoutMs: 30_000,
  pipelining: 1,
  maxRequestsPerConnection: 0,
  emptyPoolHold: 0,
  emptyPoolHoldMs: 10_000,
};

export const DEFAULT_VALIDATION_POOL: ValidationPoolOptions = {
  threads: 1,
  memoryBytes: 256 * 1024 * 1024,
};

export const DEFAULT_INLINE_BODY_BYTES = 64 * 1024;
export const DEFAULT_MAX_VALIDATED_BODY_BYTES = 16 * 1024 * 1024;
/** Operations one validated listener may have: each has its own counters in shared memory. */
export const MAX_VALIDATED_OPERATIONS = 63;
/** Listeners with contract checks, per balancer. */
export const MAX_VALIDATED_LISTENERS = 16;

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  maxRequestLineBytes: 8 * 1024,
  maxHeadBytes: 64 * 1024,
  maxHeaderCount: 100,
  headTimeoutMs: 10_000,
  keepAliveTimeoutMs: 60_000,
  bodyTimeoutMs: 30_000,
  bufferBodyBytes: 64 * 1024,
  minBodyBytesPerSecond: 1024,
  trustedProxies: [],
};

export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;

/** A backend's id in a pool, in stats and in the admin API's paths: "host:port", IPv6 in brackets. */
export function backendId(backend: { readonly address: string; readonly port: number }): string {
  return formatHostPort({ host: backend.address, port: backend.port });
}
