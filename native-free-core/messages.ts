// Every message that crosses between the supervisor and a worker thread, as one tagged union each way.
// Pool state travels as immutable snapshots: a worker rebuilds its pickers from each one and shares no
// mutable balancing state with other threads (only the counters in shared memory).

import type { HashKey, HttpLimits, ListenerConfig, PolicyName, UpstreamOptions, ValidationPoolOptions } from "./config.ts";
import type { SharedStats } from "./stats/layout.ts";

export interface BackendSnapshot {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly slot: number;
  /** Epoch ms until which it warms up (slow start), 0 when it does not. */
  readonly warmUntil: number;
}

export interface PoolSnapshot {
  readonly name: string;
  readonly slot: number;
  readonly policy: PolicyName;
  readonly hashKey: HashKey;
  readonly slowStartMs: number;
  readonly upstream: UpstreamOptions;
  readonly consecutive5xx: number;
  readonly consecutiveConnectFailures: number;
  /** Only the backends that may take new requests: up, not ejected, not draining. */
  readonly routable: readonly BackendSnapshot[];
  /** Routable backups held back while primaries serve: where a request goes after its primary refused it. */
  readonly standby: readonly BackendSnapshot[];
}

export interface WorkerInit {
  readonly index: number;
  readonly stats: SharedStats;
  /**
   * This balancer's mark in the Via field of the requests it forwards (the same in every worker): a
   * request that already carries it has come round in a loop.
   */
  readonly instanceId: string;
}

export type SupervisorMessage =
  | {
      readonly type: "configure";
      readonly version: number;
      readonly listeners: readonly ListenerConfig[];
      readonly pools: readonly PoolSnapshot[];
      readonly http: HttpLimits;
      readonly validation: ValidationPoolOptions;
      /** Each listener with contract checks (by name) and the slot of its counters in shared memory. */
      readonly validationSlots: Readonly<Record<string, number>>;
    }
  /** Stop accepting, finish what is in flight, close idle keep-alive connections, then report drained. */
  | { readonly type: "drain" }
  /**
   * (Worker 0 only.) Bind these listeners for a change that is not committed yet, answering
   * "prepared" or "prepare-failed" for each. Their connections are held, unserved, until a configure
   * that names the listener at the same address and port commits it, or abort-listeners closes it.
   */
  | { readonly type: "prepare-listeners"; readonly listeners: readonly ListenerConfig[] }
  /** The change was refused: close these prepared listeners (held connections go to an open listener on the same port, if any). */
  | { readonly type: "abort-listeners"; readonly names: readonly string[] }
  /** (Tests and operators.) End this worker's validation threads as a crash would; the pool replaces them. */
  | { readonly type: "kill-validation-threads" };

export type WorkerMessage =
  | { readonly type: "applied"; readonly version: number }
  | { readonly type: "listening"; readonly listener: string; readonly address: string; readonly port: number }
  | { readonly type: "listen-failed"; readonly listener: string; readonly message: string }
  /** A listener asked for by prepare-listeners is bound (port: the one it got). */
  | { readonly type: "prepared"; readonly listener: string; readonly address: string; readonly port: number }
  | { readonly type: "prepare-failed"; readonly listener: string; readonly message: string }
  /** A backend's consecutive failures reached the pool's threshold. */
  | { readonly type: "outlier"; readonly pool: string; readonly backend: string; readonly reason: "5xx" | "connect-failure" }
  | { readonly type: "drained" }
  /**
   * Accepting a client connection failed (EMFILE: out of file descriptors, ENFILE, ENOMEM...). The
   * listener stays open; the first failure and then at most one report a second say how many.
   */
  | { readonly type: "accept-failed"; readonly listener: string; readonly code: string; readonly count: number }
  /**
   * A connection handler threw (a bug: no input may do that). The connection was closed cleanly and
   * the worker kept serving; the first fault and then at most one report a second carry the error.
   */
  | { readonly type: "session-fault"; readonly error: string; readonly count: number };
