// What every connection handler of one worker thread shares: limits, statistics, the coarse clock,
// the parsers (parsing is synchronous, so one of each per thread is enough), and the way out to the
// supervisor for outlier reports.

import { DEFAULT_VALIDATION_POOL, type HttpLimits, type ValidationPoolOptions } from "../config.ts";
import type { ContractCheck } from "../validation/contract-check.ts";
import { BodyStores } from "../validation/body-stores.ts";
import { ValidationPool } from "../validation/pool.ts";
import { RequestHead } from "../http/request-head.ts";
import { ResponseHead } from "../http/response-head.ts";
import type { PoolRuntime, BackendRuntime } from "./pool-runtime.ts";
import type { StatsWriter } from "./stats-writer.ts";

/** The most request-body bytes one worker holds while reading bodies whole (see bufferedBodyBytes). */
export const BODY_BUFFER_BUDGET = 64 * 1024 * 1024;

export interface ListenerRuntime {
  readonly name: string;
  /** The whole response to GET /.well-known/farmhand when the listener announces a contract, else null. */
  wellKnown: Buffer | null;
  /** Path-prefix routes, longest prefix first; empty for a listener that sends everything to `pool`. */
  routes: readonly { readonly prefix: string; readonly pool: PoolRuntime | undefined }[];
  /** Replaced in place on reload, so open connections follow the listener's new pool. */
  pool: PoolRuntime | undefined;
  /** Contract checks, or null; replaced in place on reload like the pool. */
  validation: ListenerValidation | null;
}

export interface ListenerValidation {
  readonly check: ContractCheck;
  /** The contract's id, for messages ("orders@1"), or null. */
  readonly contract: string | null;
  /** Offset of the listener's first counter record in this worker's statistics region. */
  readonly statsBase: number;
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
  /** performance.now() as of the last sweep: good enough for deadlines, free to read. */
  coarseNow = performance.now();
  draining = false;
  /** This balancer's mark in Via (see WorkerInit.instanceId). */
  readonly instanceId: string;
  /**
   * Bytes of request bodies being read whole before a backend is chosen (http.bufferBodyBytes),
   * reserved by declared size. Past BODY_BUFFER_BUDGET further bodies stream instead, so a crowd of
   * clients cannot make a worker hold more than that.
   */
  bufferedBodyBytes = 0;
  /** Bytes of request bodies held for contract checks (see ValidationPoolOptions.memoryBytes). */
  validationBytes = 0;
  validationOptions: ValidationPoolOptions = DEFAULT_VALIDATION_POOL;
  /** Threads that validate large bodies; none run until the first one arrives. */
  readonly validationPool = new ValidationPool(DEFAULT_VALIDATION_POOL);
  /** The memory large checked bodies are gathered in, kept from body to body. */
  readonly bodyStores = new BodyStores(idleStoreBytes(DEFAULT_VALIDATION_POOL));
  readonly #onOutlier: (backend: BackendRuntime, reason: "5xx" | "connect-failure") => void;
  readonly #onEmpty: () => void;
  readonly #onFault: (error: string, count: number) => void;
  #faults = 0;
  #faultReportedAt = -Infinity;

  constructor(
    limits: HttpLimits,
    instanceId: string,
    stats: StatsWriter,
    onOutlier: (backend: BackendRuntime, reason: "5xx" | "connect-failure") => void,
    onEmpty: () => void,
    onFault: (error: string, count: number) => void,
  ) {
    this.limits = limits;
    this.instanceId = instanceId;
    this.stats = stats;
    this.requestHead = new RequestHead({ maxHeaderCount: limits.maxHeaderCount, instanceId: this.instanceId });
    this.responseHead = new ResponseHead(limits.maxHeaderCount * 2);
    this.#onOutlier = onOutlier;
    this.#onEmpty = onEmpty;
    this.#onFault = onFault;
  }

  /** New limits from a snapshot; the parsers are rebuilt when their header-count bound changed. */
  setLimits(limits: HttpLimits): void {
    if (limits.maxHeaderCount !== this.limits.maxHeaderCount) {
      this.requestHead = new RequestHead({ maxHeaderCount: limits.maxHeaderCount, instanceId: this.instanceId });
      this.responseHead = new ResponseHead(limits.maxHeaderCount * 2);
    }
    this.limits = limits;
  }

  setValidationOptions(options: ValidationPoolOptions): void {
    this.validationOptions = options;
    this.validationPool.options = options;
    this.bodyStores.maxIdleBytes = idleStoreBytes(options);
  }

  reportOutlier(backend: BackendRuntime, reason: "5xx" | "connect-failure"): void {
    this.#onOutlier(backend, reason);
  }

  /** A session's handler threw: reported at once, then at most once a second with a count. */
  reportFault(error: unknown): void {
    this.#faults++;
    const now = performance.now();
    if (now - this.#faultReportedAt < 1000) return;
    this.#faultReportedAt = now;
    const count = this.#faults;
    this.#faults = 0;
    this.#onFault(error instanceof Error ? (error.stack ?? error.message) : String(error), count);
  }

  remove(session: Session): void {
    this.sessions.delete(session);
    if (this.draining && this.sessions.size === 0) this.#onEmpty();
  }
}

/** A quarter of the validation budget stays allocated between bodies; more is given back to the GC. */
function idleStoreBytes(options: ValidationPoolOptions): number {
  return Math.floor(options.memoryBytes / 4);
}
