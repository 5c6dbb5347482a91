// Weighted random: a uniform draw over the cumulative weights, located by binary search.

import { effectiveWeight, type Candidate, type Picker, type PickRequest } from "./picker.ts";

export function randomPick<B extends Candidate>(
  backends: readonly B[],
  random: () => number = Math.random,
): Picker<B> {
  const list = backends.slice();
  const n = list.length;
  const indexOf = new Map<B, number>();
  for (let i = 0; i < n; i++) indexOf.set(list[i], i);
  // cumulative[i] is the sum of the weights of candidates 0..i.
  const cumulative = new Float64Array(n);
  let warmEnd = 0;
  for (let i = 0; i < n; i++) {
    const c = list[i];
    if (c.warmupMs > 0 && c.warmUntil > warmEnd) warmEnd = c.warmUntil;
  }
  let steady = false;

  function refresh(now: number): void {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      sum += effectiveWeight(list[i], now);
      cumulative[i] = sum;
    }
  }

  return {
    pick(_request: PickRequest, now: number, avoid?: B): B | undefined {
      if (n === 0) return undefined;
      if (n === 1) return list[0];
      // Weights only change while something is warming; afterwards one last refresh settles them.
      if (now < warmEnd) {
        refresh(now);
        steady = false;
      } else if (!steady) {
        refresh(now);
        steady = true;
      }
      const total = cumulative[n - 1];
      const skip = avoid === undefined ? -1 : (indexOf.get(avoid) ?? -1);
      let x: number;
      if (skip < 0) {
        x = random() * total;
      } else {
        // Draw over the total without the avoided range, then step over that range.
        const start = skip === 0 ? 0 : cumulative[skip - 1];
        const width = cumulative[skip] - start;
        x = random() * (total - width);
        if (x >= start) x += width;
      }
      // First index whose cumulative sum exceeds x.
      let lo = 0;
      let hi = n - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (cumulative[mid] > x) hi = mid;
        else lo = mid + 1;
      }
      // Only rounding can land x on the avoided range after the step; the draw belongs just past it.
      if (lo === skip) lo = skip + 1 < n ? skip + 1 : skip - 1;
      return list[lo];
    },
  };
}
