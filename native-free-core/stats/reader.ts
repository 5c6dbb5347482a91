// The supervisor's view of the shared counters: sums every worker's region and unwraps 32-bit
// counters into exact totals. `sample()` must run at least once per 2^32 increments of any counter
// (the supervisor samples every second, far more often than that at any real rate).

import {
  BACKEND_GAUGES,
  BACKEND_STRIDE,
  POOL_GAUGES,
  POOL_STRIDE,
  VALIDATION_SLOTS_PER_LISTENER,
  VALIDATION_STRIDE,
  backendOffset,
  poolOffset,
  validationOffset,
  regionLength,
  type SharedStats,
} from "./layout.ts";

export class StatsReader {
  readonly #stats: SharedStats;
  readonly #view: Int32Array;
  /** Last raw value seen per cell, to compute the wrapped delta. */
  readonly #last: Int32Array;
  /** Unwrapped totals per cell (all workers kept apart; summed on read). */
  readonly #totals: Float64Array;
  readonly #isGauge: Uint8Array;

  constructor(stats: SharedStats) {
    this.#stats = stats;
    this.#view = new Int32Array(stats.counters);
    this.#last = new Int32Array(this.#view.length);
    this.#totals = new Float64Array(this.#view.length);
    const region = regionLength(stats.capacity);
    this.#isGauge = new Uint8Array(region);
    for (let p = 0; p < stats.capacity.pools; p++) {
      for (const g of POOL_GAUGES) this.#isGauge[p * POOL_STRIDE + g] = 1;
    }
    const backendsStart = stats.capacity.pools * POOL_STRIDE;
    for (let b = 0; b < stats.capacity.backends; b++) {
      for (const g of BACKEND_GAUGES) this.#isGauge[backendsStart + b * BACKEND_STRIDE + g] = 1;
    }
  }

  /** Folds the counters' movement since the last sample into the totals. */
  sample(): void {
    const view = this.#view;
    const last = this.#last;
    const totals = this.#totals;
    for (let i = 0; i < view.length; i++) {
      const now = Atomics.load(view, i);
      const prev = last[i];
      if (now !== prev) {
        totals[i] += (now - prev) >>> 0;
        last[i] = now;
      }
    }
  }

  /** Sum over workers of one pool field (after sampling for counters; live for gauges). */
  pool(poolSlot: number, field: number): number {
    return this.#sum(poolOffset(this.#stats.capacity, 0, poolSlot) + field);
  }

  backend(backendSlot: number, field: number): number {
    return this.#sum(backendOffset(this.#stats.capacity, 0, backendSlot) + field);
  }

  /** Sum over workers of one field of a validated listener's record `record` (an operation, or VALIDATION_UNMATCHED). */
  validation(listenerSlot: number, record: number, field: number): number {
    return this.#sum(validationOffset(this.#stats.capacity, 0, listenerSlot) + record * VALIDATION_STRIDE + field);
  }

  /** Zeroes a validated listener's records, before its slot serves another contract. */
  resetValidation(listenerSlot: number): void {
    for (let w = 0; w < this.#stats.capacity.workers; w++) {
      this.#reset(validationOffset(this.#stats.capacity, w, listenerSlot), VALIDATION_SLOTS_PER_LISTENER * VALIDATION_STRIDE);
    }
  }

  /**
   * Clears a worker's gauges after it died: the requests it had in flight are gone with it.
   * Counters are kept, so totals stay monotonic when its replacement carries on in the same region.
   */
  clearWorkerGauges(worker: number): void {
    const region = regionLength(this.#stats.capacity);
    const base = worker * region;
    for (let i = 0; i < region; i++) {
      if (this.#isGauge[i]) Atomics.store(this.#view, base + i, 0);
    }
  }

  /** Zeroes a slot's records in every region, before the slot is given to a new pool or backend. */
  resetBackend(backendSlot: number): void {
    for (let w = 0; w < this.#stats.capacity.workers; w++) {
      const start = backendOffset(this.#stats.capacity, w, backendSlot);
      this.#reset(start, BACKEND_STRIDE);
    }
  }

  resetPool(poolSlot: number): void {
    for (let w = 0; w < this.#stats.capacity.workers; w++) {
      this.#reset(poolOffset(this.#stats.capacity, w, poolSlot), POOL_STRIDE);
    }
  }

  #reset(start: number, length: number): void {
    for (let i = start; i < start + length; i++) {
      Atomics.store(this.#view, i, 0);
      this.#last[i] = 0;
      this.#totals[i] = 0;
    }
  }

  #sum(cellInWorker0: number): number {
    const region = regionLength(this.#stats.capacity);
    const gauge = this.#isGauge[cellInWorker0] === 1;
    let total = 0;
    for (let w = 0; w < this.#stats.capacity.workers; w++) {
      const cell = w * region + cellInWorker0;
      total += gauge ? Atomics.load(this.#view, cell) : this.#totals[cell];
    }
    return total;
  }
}
