// Every error the balancer raises on purpose: one class per stable `code`.

export abstract class ProxyError extends Error {
  abstract readonly code: string;
}

/** A configuration file, or a configuration object given at run time, is invalid. */
export class ConfigError extends ProxyError {
  readonly code = "FARMHAND_CONFIG_INVALID";
  /** The file the configuration came from, or "<inline>". */
  readonly file: string;
  /** Dotted path of the offending field, e.g. "pools[0].backends[2].port". */
  readonly field: string;
  readonly value: unknown;
  constructor(file: string, field: string, value: unknown, problem: string) {
    super(`${file}: ${field}: ${problem} (got ${describeValue(value)})`);
    this.name = "ConfigError";
    this.file = file;
    this.field = field;
    this.value = value;
  }
}

/** The admin API was asked to listen on a non-loopback address without a token. */
export class InsecureAdminError extends ProxyError {
  readonly code = "FARMHAND_ADMIN_INSECURE";
  constructor(address: string) {
    super(`admin API: refusing to listen on non-loopback address ${address} without a token (set admin.token)`);
    this.name = "InsecureAdminError";
  }
}

/** A pool change named a pool that does not exist. */
export class UnknownPoolError extends ProxyError {
  readonly code = "FARMHAND_UNKNOWN_POOL";
  readonly pool: string;
  constructor(pool: string) {
    super(`no pool named ${JSON.stringify(pool)}`);
    this.name = "UnknownPoolError";
    this.pool = pool;
  }
}

/** A pool change named a backend that the pool does not have. */
export class UnknownBackendError extends ProxyError {
  readonly code = "FARMHAND_UNKNOWN_BACKEND";
  readonly pool: string;
  readonly backend: string;
  constructor(pool: string, backend: string) {
    super(`pool ${JSON.stringify(pool)} has no backend ${JSON.stringify(backend)}`);
    this.name = "UnknownBackendError";
    this.pool = pool;
    this.backend = backend;
  }
}

/** Shared-memory statistics have no room for another backend or pool. */
export class StatsCapacityError extends ProxyError {
  readonly code = "FARMHAND_STATS_CAPACITY";
  constructor(what: string, capacity: number) {
    super(`statistics: no room for another ${what} (capacity ${capacity})`);
    this.name = "StatsCapacityError";
  }
}

/** A listener could not be opened. */
export class ListenError extends ProxyError {
  readonly code = "FARMHAND_LISTEN_FAILED";
  constructor(listener: string, address: string, port: number, cause: unknown) {
    super(`listener ${JSON.stringify(listener)}: cannot listen on ${address}:${port}: ${(cause as Error)?.message ?? cause}`, { cause });
    this.name = "ListenError";
  }
}

/** A call to a balancer's admin API (admin/client.ts) was refused or failed: the HTTP status (0 when none came) and the server's error code. */
export class AdminCallError extends ProxyError {
  readonly code = "FARMHAND_ADMIN_CALL_FAILED";
  readonly status: number;
  /** The admin API's own error code (FARMHAND_ADMIN_*, FARMHAND_CONFIG_INVALID...), when it sent one. */
  readonly reason: string | null;
  constructor(call: string, status: number, reason: string | null, detail: string) {
    super(`${call}: ${status === 0 ? detail : `HTTP ${status}${reason === null ? "" : ` ${reason}`}: ${detail}`}`);
    this.name = "AdminCallError";
    this.status = status;
    this.reason = reason;
  }
}

/** A peer answered with a body larger than its reader allows (net/read-limited.ts); the rest was not read. */
export class BodyTooLargeError extends ProxyError {
  readonly code = "FARMHAND_BODY_TOO_LARGE";
  readonly limit: number;
  constructor(what: string, limit: number) {
    super(`${what}: the answer is larger than ${limit} bytes; not read further`);
    this.name = "BodyTooLargeError";
    this.limit = limit;
  }
}

export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  try {
    const text = JSON.stringify(value);
    return text.length > 80 ? text.slice(0, 77) + "..." : text;
  } catch {
    return String(value);
  }
}
