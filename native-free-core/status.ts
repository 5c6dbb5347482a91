// What the supervisor reports about pools and backends: the admin API's JSON and the metrics'
// backend-health gauges are both made from these.

import type { BackendSpec, PolicyName } from "./config.ts";

/** Whether a backend takes new requests, is finishing its last ones, or has finished them. */
export type BackendLifecycle = "active" | "draining" | "drained";

export interface BackendStatus {
  /** "address:port", unique within its pool. */
  readonly id: string;
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly lifecycle: BackendLifecycle;
  /** Verdict of active health checks; always true when the pool has none. */
  readonly healthy: boolean;
  /** Epoch milliseconds until which outlier detection keeps it out, or null. */
  readonly ejectedUntil: number | null;
  readonly ejections: number;
  /** Epoch milliseconds until which it is warming up (slow start), or null. */
  readonly warmUntil: number | null;
  /** Whether new requests may be sent to it now. */
  readonly routable: boolean;
  /** Takes traffic only while no primary is routable. */
  readonly backup: boolean;
  readonly inFlight: number;
  /** Shared-memory slot of its statistics (internal, for the metrics exporter). */
  readonly slot: number;
}

export interface PoolStatus {
  readonly name: string;
  readonly policy: PolicyName;
  readonly backends: readonly BackendStatus[];
  readonly slot: number;
}

export interface WorkerStatus {
  readonly index: number;
  readonly threadId: number;
  readonly restarts: number;
  /** It has opened every listener of the running configuration (a replacement is not serving at once). */
  readonly serving: boolean;
}

/** The operation name under which requests that matched no operation are counted. */
export const UNMATCHED_OPERATION = "(none)";

/** What contract checks made of a validated listener's requests. */
export interface ValidationCounts {
  readonly listener: string;
  readonly operations: readonly {
    /** The operation's name, or UNMATCHED_OPERATION. */
    readonly operation: string;
    /** Requests per outcome: valid, invalid, not_found, method_not_allowed, too_large, unsupported_media_type, busy, failed. */
    readonly outcomes: Readonly<Record<string, number>>;
    /** Of them, checked on a validation thread. */
    readonly offloaded: number;
  }[];
}

/** What the admin API may do to a running balancer. Every mutation returns the pool as it now is. */
export interface AdminControl {
  pools(): readonly PoolStatus[];
  /** Throws UnknownPoolError. */
  pool(name: string): PoolStatus;
  /** Backends absent from the new list drain and are removed; new ones join (with slow start). */
  replaceBackends(pool: string, backends: readonly BackendSpec[]): PoolStatus;
  addBackend(pool: string, backend: BackendSpec): PoolStatus;
  /** Drains the backend, then forgets it. Throws UnknownBackendError. */
  removeBackend(pool: string, id: string): PoolStatus;
  setWeight(pool: string, id: string, weight: number): PoolStatus;
  /** Stops new requests to the backend; it reports "drained" once its in-flight requests are done. */
  drainBackend(pool: string, id: string): PoolStatus;
  workers(): readonly WorkerStatus[];
  /** The Prometheus exposition text. */
  metrics(): Promise<{ readonly contentType: string; readonly body: string }>;
  /** Contract-check counters (empty when no listener checks contracts). */
  validationCounts(): readonly ValidationCounts[];
  /** Requests answered per pool and status class, and per backend, for the stats page. */
  traffic(): TrafficCounts;
}

/** Totals since start, as the metrics have them, for the admin API's HTML page. */
export interface TrafficCounts {
  readonly pools: readonly {
    readonly name: string;
    /** Responses by class: 1xx, 2xx, 3xx, 4xx, 5xx. */
    readonly responses: readonly number[];
    readonly inFlight: number;
    readonly clientConnections: number;
    readonly rejected: number;
    readonly noBackend: number;
    /** Requests held while the pool was empty (emptyPoolHold). */
    readonly held: number;
    readonly backends: readonly { readonly id: string; readonly responses: readonly number[]; readonly connections: number; readonly errors: number }[];
  }[];
}
