// The worker's side of the shared statistics: plain Atomics.add into its own region, no messages.

import {
  BACKEND,
  LATENCY_BUCKETS_US,
  POOL,
  backendOffset,
  poolOffset,
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

  add(cell: number, n: number): void {
    Atomics.add(this.view, cell, n);
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
    Atomics.add(view, poolBase + POOL.RESPONSES_1XX + cls, 1);
    Atomics.add(view, poolBase + POOL.LATENCY_SUM_US, us);
    Atomics.add(view, poolBase + POOL.LATENCY_BUCKET_0 + bucket, 1);
    if (backendBase >= 0) {
      Atomics.add(view, backendBase + BACKEND.RESPONSES_1XX + cls, 1);
      Atomics.add(view, backendBase + BACKEND.LATENCY_SUM_US, us);
      Atomics.add(view, backendBase + BACKEND.LATENCY_BUCKET_0 + bucket, 1);
    }
  }
}
