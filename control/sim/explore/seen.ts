// The states the explorer has seen, by digest, with the failure budget each was explored with. A run
// that reaches a state seen with at least its own budget left stops: everything from there was (or
// is being) explored. One level's table is built by the main thread and shared with every worker in
// SharedArrayBuffers (sorted, searched by bisection); a task adds what its own runs see locally.

import type { SharedSeen } from "./types.ts";

/** A digest's first 64 bits: collisions among the hundreds of thousands of states a verification sees are vanishingly rare. */
export function digestKey(digest: string): bigint {
  return BigInt(`0x${digest.slice(0, 16)}`);
}

export function shareSeen(entries: ReadonlyMap<string, number>): SharedSeen {
  const sorted = [...entries].map(([d, budget]) => [digestKey(d), budget] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const digests = new BigUint64Array(new SharedArrayBuffer(Math.max(8, sorted.length * 8)), 0, sorted.length);
  const budgets = new Uint8Array(new SharedArrayBuffer(Math.max(1, sorted.length)), 0, sorted.length);
  sorted.forEach(([d, b], i) => {
    digests[i] = d;
    budgets[i] = b;
  });
  return { digests, budgets };
}

/** The budget a shared table holds for `digest`, or -1. */
export function sharedBudget(seen: SharedSeen, digest: string): number {
  const key = digestKey(digest);
  let lo = 0;
  let hi = seen.digests.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const d = seen.digests[mid];
    if (d === key) return seen.budgets[mid];
    if (d < key) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** A task's view: the shared table plus what its own runs have seen. */
export class SeenStates {
  readonly #shared: SharedSeen;
  readonly #local = new Map<string, number>();

  constructor(shared: SharedSeen) {
    this.#shared = shared;
  }

  /** Whether a run with `budget` failures left has nothing new to explore from `digest`. */
  covers(digest: string, budget: number): boolean {
    return Math.max(sharedBudget(this.#shared, digest), this.#local.get(digest) ?? -1) >= budget;
  }

  add(digest: string, budget: number): void {
    if ((this.#local.get(digest) ?? -1) < budget) this.#local.set(digest, budget);
  }
}
