// What the orchestrator needs from a running peer: which ports to load, which process to measure.

import type { Child } from "../lib/children.ts";
import type { Tools } from "../lib/tools.ts";
import type { RequestSpec } from "../load/types.ts";
import { nofileHardLimit } from "../measure/proc.ts";

/** Which HAProxy row a target is compared with. */
export type Mode = "http" | "tcp";

export interface Target {
  /** Stable key in results, e.g. "haproxy-http". */
  readonly id: string;
  /** Shown in tables and charts. */
  readonly label: string;
  readonly mode: Mode;
  readonly port: number;
  /** The process (and its descendants) whose CPU time and memory are charged to this target. */
  readonly pid: number;
  /** What the load generator sends; default GET /. */
  readonly request?: RequestSpec;
  /** The row this one is compared with; default HAProxy's of the same mode. */
  readonly reference?: string;
  /** What a good response body is; default the backend's 100 bytes. */
  readonly expectBody?: RegExp;
  /** Load to keep up in the background during this target's runs (started before the warm-up). */
  readonly background?: () => Promise<{ stop(): Promise<string> }>;
}

export interface Peer {
  readonly name: string;
  readonly child: Child;
  readonly targets: readonly Target[];
}

export interface PeerContext {
  /** A fresh directory for this peer's config, pid file and logs. */
  readonly dir: string;
  /** Threads (or worker processes) the proxy may use. */
  readonly threads: number;
  readonly backendPort: number;
  readonly tools: Tools;
  readonly node: string;
}

/**
 * Open files for proxies: the idle test holds 10,000 client connections plus upstream ones. Capped
 * at the hard limit the bench itself got, because in containers even root may not raise it.
 */
export function peerNofile(): number {
  return Math.min(65536, nofileHardLimit(process.pid) ?? 65536);
}
