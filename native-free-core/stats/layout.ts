// Where each statistic lives in shared memory.
//
// Every worker thread owns one region of an Int32Array over a SharedArrayBuffer and is its only writer,
// so a request costs a handful of Atomics.add calls and no message. A region holds one record per pool
// slot followed by one record per backend slot; the supervisor assigns the slots and sums the regions.
// Counters are 32-bit and wrap: the reader samples them often enough to unwrap (see reader.ts).
// Gauges go up and down and never wrap.

/** Upper bounds of the latency histogram buckets, in seconds; one more bucket catches the rest. */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
/** The same bounds in microseconds, as the hot path compares them. */
export const LATENCY_BUCKETS_US: Int32Array = Int32Array.from(LATENCY_BUCKETS_SECONDS, (s) => Math.round(s * 1e6));
export const LATENCY_BUCKET_COUNT = LATENCY_BUCKETS_SECONDS.length + 1;

/** Fields of a pool record. Responses are counted here whether a backend or the proxy produced them. */
export const POOL = {
  RESPONSES_1XX: 0,
  RESPONSES_2XX: 1,
  RESPONSES_3XX: 2,
  RESPONSES_4XX: 3,
  RESPONSES_5XX: 4,
  /** Requests (HTTP) or connections (TCP) being served. Gauge. */
  IN_FLIGHT: 5,
  /** Open client connections. Gauge. */
  CLIENT_CONNECTIONS: 6,
  CLIENT_CONNECTIONS_TOTAL: 7,
  /** Requests refused as malformed (400, 408, 414, 431). */
  REJECTED: 8,
  /** Requests answered 503 because no backend was routable. */
  NO_BACKEND: 9,
  /** Requests held while the pool had no routable backend (emptyPoolHold), whatever came of them. */
  HELD: 10,
  LATENCY_SUM_US: 11,
  LATENCY_BUCKET_0: 12,
} as const;
export const POOL_STRIDE = POOL.LATENCY_BUCKET_0 + LATENCY_BUCKET_COUNT;

/** Fields of a backend record. */
export const BACKEND = {
  RESPONSES_1XX: 0,
  RESPONSES_2XX: 1,
  RESPONSES_3XX: 2,
  RESPONSES_4XX: 3,
  RESPONSES_5XX: 4,
  /** Requests (HTTP) or tunnels (TCP) to this backend now. Gauge. */
  IN_FLIGHT: 5,
  /** Open upstream connections. Gauge. */
  CONNECTIONS: 6,
  CONNECTIONS_TOTAL: 7,
  CONNECT_ERRORS: 8,
  /** Requests sent again after a reused connection failed, or sent elsewhere after a connect failure. */
  RETRIES: 9,
  /** Upstream response timeouts (504). */
  TIMEOUTS: 10,
  /** Resets and malformed responses (502) after the connection was up. */
  UPSTREAM_ERRORS: 11,
  LATENCY_SUM_US: 12,
  LATENCY_BUCKET_0: 13,
} as const;
export const BACKEND_STRIDE = BACKEND.LATENCY_BUCKET_0 + LATENCY_BUCKET_COUNT;

/**
 * Fields of a contract-check record: what became of requests on a validated listener, per operation.
 * Each validated listener has VALIDATION_SLOTS_PER_LISTENER records: one per operation, in the
 * order of its contract, and the last one for requests that matched no operation.
 */
export const VALIDATION = {
  /** Matched and valid: sent on to a backend. */
  VALID: 0,
  /** 400: the body is not JSON (or a form), or does not match the operation's schema. */
  INVALID: 1,
  /** 404: no operation has the request's path (or the path is not plain). */
  NOT_FOUND: 2,
  /** 405: operations have the path, but not with this method. */
  METHOD_NOT_ALLOWED: 3,
  /** 413: the body is larger than the listener's maxBodyBytes. */
  TOO_LARGE: 4,
  /** 415: the body's media type is neither JSON nor a form. */
  UNSUPPORTED_MEDIA_TYPE: 5,
  /** 503: the worker's validation memory was taken (Retry-After). */
  BUSY: 6,
  /** 503: the validation thread failed (died, ran out of heap) or took too long. */
  FAILED: 7,
  /** Validated on the validation pool rather than on the I/O thread (any verdict). */
  OFFLOADED: 8,
} as const;
export const VALIDATION_STRIDE = 9;
/** Operations of one listener (MAX_VALIDATED_OPERATIONS) plus the record for unmatched requests. */
export const VALIDATION_SLOTS_PER_LISTENER = 64;
export const VALIDATION_UNMATCHED = VALIDATION_SLOTS_PER_LISTENER - 1;
export const VALIDATION_OUTCOMES = ["valid", "invalid", "not_found", "method_not_allowed", "too_large", "unsupported_media_type", "busy", "failed"] as const;

export const POOL_GAUGES: readonly number[] = [POOL.IN_FLIGHT, POOL.CLIENT_CONNECTIONS];
export const BACKEND_GAUGES: readonly number[] = [BACKEND.IN_FLIGHT, BACKEND.CONNECTIONS];

/**
 * Cross-worker outlier counters, one record per backend slot in a second Int32Array that all workers
 * write: a success from any worker resets the streak, so "consecutive" means across the whole proxy.
 */
export const OUTLIER = {
  CONSECUTIVE_5XX: 0,
  CONSECUTIVE_CONNECT_FAILURES: 1,
} as const;
export const OUTLIER_STRIDE = 2;

export interface StatsCapacity {
  readonly workers: number;
  readonly pools: number;
  readonly backends: number;
  /** Listeners with contract checks (default 0). */
  readonly validated?: number;
}

/** The shared buffers, as they are handed to each worker thread. */
export interface SharedStats {
  readonly capacity: StatsCapacity;
  readonly counters: SharedArrayBuffer;
  readonly outlier: SharedArrayBuffer;
}

export function regionLength(capacity: StatsCapacity): number {
  return capacity.pools * POOL_STRIDE + capacity.backends * BACKEND_STRIDE +
    (capacity.validated ?? 0) * VALIDATION_SLOTS_PER_LISTENER * VALIDATION_STRIDE;
}

export function allocateSharedStats(capacity: StatsCapacity): SharedStats {
  const ints = regionLength(capacity) * capacity.workers;
  return {
    capacity,
    counters: new SharedArrayBuffer(ints * Int32Array.BYTES_PER_ELEMENT),
    outlier: new SharedArrayBuffer(capacity.backends * OUTLIER_STRIDE * Int32Array.BYTES_PER_ELEMENT),
  };
}

/** Offset of a pool record inside a worker's region. */
export function poolOffset(capacity: StatsCapacity, worker: number, poolSlot: number): number {
  return worker * regionLength(capacity) + poolSlot * POOL_STRIDE;
}

/** Offset of a backend record inside a worker's region. */
export function backendOffset(capacity: StatsCapacity, worker: number, backendSlot: number): number {
  return worker * regionLength(capacity) + capacity.pools * POOL_STRIDE + backendSlot * BACKEND_STRIDE;
}

/** Offset of a validated listener's first record (operation 0) inside a worker's region. */
export function validationOffset(capacity: StatsCapacity, worker: number, listenerSlot: number): number {
  return worker * regionLength(capacity) + capacity.pools * POOL_STRIDE + capacity.backends * BACKEND_STRIDE +
    listenerSlot * VALIDATION_SLOTS_PER_LISTENER * VALIDATION_STRIDE;
}
