// Least request by the power of two choices: comparing two random candidates avoids both the herd
// behaviour of always taking the global minimum and an O(n) scan per request.

import { effectiveWeight, type Candidate, type Picker, type PickRequest } from "./picker.ts";

export function leastRequest<B extends Candidate>(
  backends: readonly B[],
  random: () => number = Math.random,
): Picker<B> {
  const list = backends.slice();
  const n = list.length;
  const indexOf = new Map<B, number>();
  for (let i = 0; i < n; i++) indexOf.set(list[i], i);

  return {
    pick(_request: PickRequest, now: number, avoid?: B): B | undefined {
      if (n === 0) return undefined;
      if (n === 1) return list[0];
      // Draw from the eligible slots only, then map slot numbers past the avoided index up by one.
      const skip = avoid === undefined ? -1 : (indexOf.get(avoid) ?? -1);
      const m = skip < 0 ? n : n - 1;
      if (m === 1) return list[skip === 0 ? 1 : 0];
      let i = Math.floor(random() * m);
      if (i >= m) i = m - 1; // a random() that returns 1 must not index past the end
      let j = Math.floor(random() * (m - 1));
      if (j >= m - 1) j = m - 2;
      if (j >= i) j++; // distinct from the first draw, still uniform over the rest
      if (skip >= 0) {
        if (i >= skip) i++;
        if (j >= skip) j++;
      }
      const a = list[i];
      const b = list[j];
      const loadA = (a.active + 1) / effectiveWeight(a, now);
      const loadB = (b.active + 1) / effectiveWeight(b, now);
      return loadB < loadA ? b : a;
    },
  };
}
