// Every message that crosses between the supervisor and a worker thread, as one tagged union each way.
// Pool state travels as immutable snapshots: a worker rebuilds its pickers from each one and shares no
// mutable balancing state with other threads (only the counters in shared memory).

import type { HashKey, HttpLimits, ListenerConfig, PolicyName, UpstreamOptions } from "./config.ts";
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
}

export type SupervisorMessage =
  | {
      readonly type: "configure";
      readonly version: number;
      readonly listeners: readonly ListenerConfig[];
      readonly pools: readonly PoolSnapshot[];
      readonly http: HttpLimits;
    }
  /** Stop accepting, finish what is in flight, close idle keep-alive connections, then report drained. */
  | { readonly type: "drain" };

export type WorkerMessage =
  | { readonly type: "applied"; readonly version: number }
  | { readonly type: "listening"; readonly listener: string; readonly address: string; readonly port: number }
  | { readonly type: "listen-failed"; readonly listener: string; readonly message: string }
  /** A backend's consecutive failures reached the pool's threshold. */
  | { readonly type: "outlier"; readonly pool: string; readonly backend: string; readonly reason: "5xx" | "connect-failure" }
  | { readonly type: "drained" };
