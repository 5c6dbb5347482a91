// What every connection handler of one worker thread shares: limits, statistics, the coarse clock,
// the parsers (parsing is synchronous, so one of each per thread is enough), and the way out to the
// supervisor for outlier reports.

import type { HttpLimits } from "../config.ts";
import { RequestHead } from "../http/request-head.ts";
import { ResponseHead } from "../http/response-head.ts";
import type { PoolRuntime, BackendRuntime } from "./pool-runtime.ts";
import type { StatsWriter } from "./stats-writer.ts";
import { WriteBatch } from "./write-batch.ts";

export interface ListenerRuntime {
  readonly name: string;
  /** The whole response to GET /.well-known/farmhand when the listener announces a contract, else null. */
  wellKnown: Buffer | null;
  /** Path-prefix routes, longest prefix first; empty for a listener that sends everything to `pool`. */
  routes: readonly { readonly prefix: string; readonly pool: PoolRuntime | undefined }[];
  /** Replaced in place on reload, so open connections follow the listener's new pool. */
  pool: PoolRuntime | undefined;
}

/** Anything that holds a client connection and must be swept for timeouts and drained on shutdown. */
export interface Session {
  /** Called by the sweep; `now` is the coarse clock. */
  sweep(now: number): void;
  /** Shutdown: close now if idle, otherwise after the exchange in progress. */
  drain(): void;
}

export class WorkerEnvironment {
  limits: HttpLimits;
  readonly stats: StatsWriter;
  requestHead: RequestHead;
  responseHead: ResponseHead;
  readonly sessions = new Set<Session>();
  readonly writes = new WriteBatch();
  /** performance.now() as of the last sweep: good enough for deadlines, free to read. */
  coarseNow = performance.now();
  draining = false;
  readonly #onOutlier: (backend: BackendRuntime, reason: "5xx" | "connect-failure") => void;
  readonly #onEmpty: () => void;

  constructor(
    limits: HttpLimits,
    stats: StatsWriter,
    onOutlier: (backend: BackendRuntime, reason: "5xx" | "connect-failure") => void,
    onEmpty: () => void,
  ) {
    this.limits = limits;
    this.stats = stats;
    this.requestHead = new RequestHead({ maxHeaderCount: limits.maxHeaderCount });
    this.responseHead = new ResponseHead(limits.maxHeaderCount * 2);
    this.#onOutlier = onOutlier;
    this.#onEmpty = onEmpty;
  }

  /** New limits from a snapshot; the parsers are rebuilt when their header-count bound changed. */
  setLimits(limits: HttpLimits): void {
    if (limits.maxHeaderCount !== this.limits.maxHeaderCount) {
      this.requestHead = new RequestHead({ maxHeaderCount: limits.maxHeaderCount });
      this.responseHead = new ResponseHead(limits.maxHeaderCount * 2);
    }
    this.limits = limits;
  }

  reportOutlier(backend: BackendRuntime, reason: "5xx" | "connect-failure"): void {
    this.#onOutlier(backend, reason);
  }

  remove(session: Session): void {
    this.sessions.delete(session);
    if (this.draining && this.sessions.size === 0) this.#onEmpty();
  }
}
