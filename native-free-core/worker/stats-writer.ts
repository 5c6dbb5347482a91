// The worker's side of the shared statistics: increments into its own region, no messages.
//
// This thread is the only writer of its region, so an increment needs no atomic read-modify-write:
// a plain `+=` on an aligned Int32 cell cannot tear, and the supervisor, which reads with
// Atomics.load once a second, sees each value whole. (An Atomics.add is a builtin call; a request
// makes a dozen of these.) The outlier cells, which every worker writes, stay atomic (client-session).

import {
  BACKEND,
  LATENCY_BUCKETS_US,
  POOL,
  backendOffset,
  poolOffset,
  validationOffset,
  type SharedStats,
} from "../stats/layout.ts";

export class StatsWriter {
  readonly view: Int32Array;
  readonly outlier: Int32Array;
  readonly #stats: SharedStats;
  readonly #worker: number;

  constructor(stats: SharedStats, worker: number) {
    this.#stats = stats;
    this.#worker = worker;
    this.view = new Int32Array(stats.counters);
    this.outlier = new Int32Array(stats.outlier);
  }

  poolBase(slot: number): number {
    return poolOffset(this.#stats.capacity, this.#worker, slot);
  }

  backendBase(slot: number): number {
    return backendOffset(this.#stats.capacity, this.#worker, slot);
  }

  validationBase(listenerSlot: number): number {
    return validationOffset(this.#stats.capacity, this.#worker, listenerSlot);
  }

  add(cell: number, n: number): void {
    this.view[cell] += n;
  }

  /**
   * One finished request: its status class and latency, on its pool and (when a backend answered)
   * on that backend. `backendBase` is -1 when the proxy answered by itself.
   */
  response(poolBase: number, backendBase: number, status: number, latencyUs: number): void {
    const view = this.view;
    const cls = status >= 500 ? 4 : status >= 400 ? 3 : status >= 300 ? 2 : status >= 200 ? 1 : 0;
    let bucket = 0;
    const bounds = LATENCY_BUCKETS_US;
    while (bucket < bounds.length && latencyUs > bounds[bucket]) bucket++;
    const us = latencyUs | 0;
    view[poolBase + POOL.RESPONSES_1XX + cls] += 1;
    view[poolBase + POOL.LATENCY_SUM_US] += us;
    view[poolBase + POOL.LATENCY_BUCKET_0 + bucket] += 1;
    if (backendBase >= 0) {
      view[backendBase + BACKEND.RESPONSES_1XX + cls] += 1;
      view[backendBase + BACKEND.LATENCY_SUM_US] += us;
      view[backendBase + BACKEND.LATENCY_BUCKET_0 + bucket] += 1;
    }
  }
}
