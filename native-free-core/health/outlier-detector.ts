// Passive outlier detection, run on the supervisor thread. Workers count consecutive failures per
// backend themselves and report a backend once it crosses its threshold; this module decides whether
// that ejects it and for how long. Pure logic: no timers, no I/O; time always comes in as `now`
// (milliseconds on any clock, as long as the caller always uses the same one).
// Independent of active health checking (Envoy's split): a backend may be up and ejected at once.

import type { OutlierDetectionOptions } from "../config.ts";

export type OutlierReason = "5xx" | "connect-failure";

interface OutlierState {
  ejected: boolean;
  /** When the current ejection ends; 0 when not ejected. */
  ejectedUntil: number;
  /** Multiplies baseEjectionMs for the next ejection's length (before counting it); decays while un-ejected. */
  multiplier: number;
  /** Since when the backend has been un-ejected without a decay step applied. */
  decayFrom: number;
  /** Times ejected in all (never decays). */
  ejections: number;
}

export class OutlierDetector {
  readonly #options: OutlierDetectionOptions;
  readonly #states = new Map<string, OutlierState>();
  #ejected = 0;

  constructor(options: OutlierDetectionOptions) {
    this.#options = options;
  }

  /** Makes the pool exactly `ids`: removed ones are forgotten (an ejected one silently), kept ones keep their state. */
  setBackends(ids: readonly string[]): void {
    const wanted = new Set(ids);
    for (const [id, state] of this.#states) {
      if (!wanted.has(id)) {
        if (state.ejected) this.#ejected -= 1;
        this.#states.delete(id);
      }
    }
    for (const id of wanted) {
      if (!this.#states.has(id)) this.#states.set(id, { ejected: false, ejectedUntil: 0, multiplier: 0, decayFrom: 0, ejections: 0 });
    }
  }

  /**
   * A worker says `id` crossed its consecutive-failure threshold. Ejects it and returns true, or
   * returns false when it is unknown, already ejected (until tick() releases it), the reason is
   * disabled in the options, or ejecting it would exceed maxEjectedPercent.
   */
  report(id: string, reason: OutlierReason, now: number): boolean {
    const state = this.#states.get(id);
    if (!state || state.ejected) return false;
    const threshold = reason === "5xx" ? this.#options.consecutive5xx : this.#options.consecutiveConnectFailures;
    if (threshold <= 0) return false;
    if (!this.#mayEjectAnother()) return false;

    this.#decay(state, now);
    const base = this.#base();
    // Past the cap a longer multiplier changes nothing but the time it takes to decay; stop there.
    const maxMultiplier = Math.max(1, Math.ceil(this.#options.maxEjectionMs / base));
    state.multiplier = Math.min(state.multiplier + 1, maxMultiplier);
    state.ejections += 1;
    const duration = Math.min(base * state.multiplier, this.#options.maxEjectionMs);
    state.ejected = true;
    state.ejectedUntil = now + Math.max(0, duration);
    this.#ejected += 1;
    return true;
  }

  /**
   * Releases every backend whose ejection has ended by `now` and returns their ids; also lets the
   * ejection multiplier of every un-ejected backend decay (one step per full baseEjectionMs un-ejected).
   */
  tick(now: number): string[] {
    const released: string[] = [];
    for (const [id, state] of this.#states) {
      if (state.ejected) {
        if (state.ejectedUntil > now) continue;
        state.ejected = false;
        state.ejectedUntil = 0;
        state.decayFrom = now;
        this.#ejected -= 1;
        released.push(id);
      }
      this.#decay(state, now);
    }
    return released;
  }

  isEjected(id: string): boolean {
    return this.#states.get(id)?.ejected ?? false;
  }

  /** When the current ejection of `id` ends; 0 when it is not ejected. */
  ejectedUntil(id: string): number {
    const state = this.#states.get(id);
    return state?.ejected ? state.ejectedUntil : 0;
  }

  /** Times `id` has been ejected in all since it joined the pool (for metrics). */
  ejectionCount(id: string): number {
    return this.#states.get(id)?.ejections ?? 0;
  }

  /** Ids currently ejected, in pool order. */
  ejectedIds(): string[] {
    const ids: string[] = [];
    for (const [id, state] of this.#states) if (state.ejected) ids.push(id);
    return ids;
  }

  /** The earliest end of a current ejection, or Infinity when none is ejected: when tick() is next due. */
  nextDeadline(): number {
    let next = Infinity;
    for (const state of this.#states.values()) {
      if (state.ejected && state.ejectedUntil < next) next = state.ejectedUntil;
    }
    return next;
  }

  #base(): number {
    return Math.max(1, this.#options.baseEjectionMs);
  }

  #mayEjectAnother(): boolean {
    const size = this.#states.size;
    const allowed = Math.floor((size * this.#options.maxEjectedPercent) / 100);
    if (this.#ejected + 1 <= allowed) return true;
    return size >= 2 && this.#ejected === 0;
  }

  /** Applies the decay owed to an un-ejected backend up to `now`. */
  #decay(state: OutlierState, now: number): void {
    if (state.ejected) return;
    if (state.multiplier === 0) {
      state.decayFrom = now;
      return;
    }
    const base = this.#base();
    const steps = Math.floor((now - state.decayFrom) / base);
    if (steps <= 0) return;
    state.multiplier = Math.max(0, state.multiplier - steps);
    state.decayFrom += steps * base;
  }
}
