// Virtual time. Nothing waits for the wall clock: a sleep is an entry in a timer queue, and time moves
// only when the simulation says so (advance), to each timer in turn, in the order they are due (ties in
// the order they were set). The same steps give the same interleaving, every run.

import type { Clock } from "../drivers/driver.ts";

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly wake: () => void;
}

export class VirtualClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: Timer[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const timer: Timer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, wake: resolve };
      this.#timers.push(timer);
      this.#timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      signal?.addEventListener("abort", () => {
        this.#timers = this.#timers.filter((t) => t !== timer);
        resolve();
      }, { once: true });
    });
  }

  /** Timers waiting. */
  get pending(): number {
    return this.#timers.length;
  }

  /**
   * Moves time forward by `ms`, waking each timer due on the way at its own time, and letting what
   * it woke run (and set new timers) before time moves on.
   */
  async advance(ms: number): Promise<void> {
    const until = this.#now + ms;
    for (;;) {
      await settle();
      const next = this.#timers[0];
      if (next === undefined || next.at > until) break;
      this.#timers.shift();
      this.#now = next.at;
      next.wake();
    }
    this.#now = until;
    await settle();
  }
}

/**
 * Moves time on in steps of `stepMs` until `work` settles (at most `limitMs` of virtual time), and
 * returns what it gave: how a simulation runs a script that waits for VMs to boot.
 */
export async function runUntil<T>(clock: VirtualClock, work: Promise<T>, stepMs = 50, limitMs = 24 * 3600_000): Promise<T> {
  let done = false;
  const settled = work.finally(() => (done = true));
  settled.catch(() => {});
  for (let spent = 0; !done; spent += stepMs) {
    if (spent > limitMs) throw new Error(`simulation: still not done after ${limitMs} ms of virtual time`);
    await clock.advance(stepMs);
  }
  return settled;
}

/** Lets every promise chain that can run without time passing run (a few turns of the event loop). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
