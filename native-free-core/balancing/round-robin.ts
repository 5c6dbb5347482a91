// Smooth weighted round robin (the nginx scheme): every pick adds each candidate's weight to its
// score, takes the highest score and subtracts the total from it. Picks interleave instead of
// bursting (weights 1:2:3 go c b c a b c, not a b b c c c), and the sequence is deterministic.

import { effectiveWeight, type Candidate, type Picker, type PickRequest } from "./picker.ts";

export function roundRobin<B extends Candidate>(backends: readonly B[]): Picker<B> {
  const list = backends.slice();
  const n = list.length;
  const scores = new Float64Array(n);
  const weights = new Float64Array(n);
  // Past this instant no candidate is warming, so the configured weights hold and need no refresh.
  let warmEnd = 0;
  for (let i = 0; i < n; i++) {
    const c = list[i];
    weights[i] = c.weight;
    if (c.warmupMs > 0 && c.warmUntil > warmEnd) warmEnd = c.warmUntil;
  }
  let steady = warmEnd === 0;

  return {
    pick(_request: PickRequest, now: number, avoid?: B): B | undefined {
      if (n === 0) return undefined;
      if (n === 1) return list[0];
      if (now < warmEnd) {
        for (let i = 0; i < n; i++) weights[i] = effectiveWeight(list[i], now);
        steady = false;
      } else if (!steady) {
        for (let i = 0; i < n; i++) weights[i] = list[i].weight;
        steady = true;
      }
      let best = -1;
      let total = 0;
      for (let i = 0; i < n; i++) {
        // The avoided backend sits this round out entirely, so its score is not inflated for later.
        if (list[i] === avoid) continue;
        const w = weights[i];
        total += w;
        const s = scores[i] + w;
        scores[i] = s;
        if (best < 0 || s > scores[best]) best = i;
      }
      scores[best] -= total;
      return list[best];
    },
  };
}
