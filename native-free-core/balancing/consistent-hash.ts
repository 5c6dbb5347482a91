// Consistent hashing on a ring of virtual nodes. Each backend owns many points placed by hashing its
// id, so a backend's position depends on nothing but itself: adding one only takes keys onto it, and
// removing one only hands its own keys to the next points clockwise.

import type { HashKey } from "../config.ts";
import type { Candidate, Picker, PickRequest } from "./picker.ts";

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/**
 * MurmurHash3 (x86, 32-bit, seed 0) of the string's UTF-16LE bytes, read straight from the code
 * units two to a block, so no request pays for encoding the string into a buffer first.
 */
export function hash32(text: string): number {
  const len = text.length;
  let h = 0;
  let i = 0;
  for (; i + 1 < len; i += 2) {
    let k = (text.charCodeAt(i) & 0xffff) | ((text.charCodeAt(i + 1) & 0xffff) << 16);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < len) {
    // Tail: one 16-bit unit left over.
    let k = text.charCodeAt(i) & 0xffff;
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  h ^= len * 2;
  // Final avalanche so that nearby inputs ("a#1", "a#2") land far apart.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export interface ConsistentHashOptions {
  /** Ring points per unit of configured weight; 100 unless given. */
  readonly pointsPerWeight?: number;
}

// Packs (point, rank) into one double so a plain numeric typed-array sort orders the ring; the rank
// (the backend's place in id order) stays exact below 2^21 backends.
const RANK_SPAN = 2 ** 21;

export function consistentHash<B extends Candidate>(
  backends: readonly B[],
  key: HashKey,
  options?: ConsistentHashOptions,
): Picker<B> {
  const pointsPerWeight = options?.pointsPerWeight ?? 100;
  if (!(pointsPerWeight >= 1)) throw new RangeError(`pointsPerWeight must be >= 1, got ${pointsPerWeight}`);
  if (backends.length >= RANK_SPAN) throw new RangeError(`too many backends for a hash ring: ${backends.length}`);

  // Ranks follow id order, not list order, so two backends colliding on a point settle the same way
  // whatever else is in the set (otherwise a collision could move keys between unrelated backends).
  const byId = backends.slice().sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  let count = 0;
  for (const b of byId) count += Math.max(1, Math.round(b.weight * pointsPerWeight));
  const packed = new Float64Array(count);
  let p = 0;
  for (let rank = 0; rank < byId.length; rank++) {
    const b = byId[rank];
    const vnodes = Math.max(1, Math.round(b.weight * pointsPerWeight));
    for (let i = 0; i < vnodes; i++) packed[p++] = hash32(`${b.id}#${i}`) * RANK_SPAN + rank;
  }
  packed.sort();

  // Collapse points that collide, keeping the lowest rank (it sorted first).
  const points = new Uint32Array(count);
  const owners = new Uint32Array(count);
  let size = 0;
  for (let j = 0; j < count; j++) {
    const point = Math.floor(packed[j] / RANK_SPAN);
    if (size > 0 && points[size - 1] === point) continue;
    points[size] = point;
    owners[size] = packed[j] - point * RANK_SPAN;
    size++;
  }
  const distinct = byId.length;
  const byHeader = key.kind === "header";

  return {
    pick(request: PickRequest, _now: number, avoid?: B): B | undefined {
      if (distinct === 0) return undefined;
      if (distinct === 1) return byId[0];
      const text = byHeader ? (request.hashHeader ?? request.clientAddress) : request.clientAddress;
      const h = hash32(text);
      // First point at or clockwise of h, wrapping past the top of the ring.
      let lo = 0;
      let hi = size;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (points[mid] < h) lo = mid + 1;
        else hi = mid;
      }
      if (lo === size) lo = 0;
      let chosen = byId[owners[lo]];
      if (chosen !== avoid) return chosen;
      // Retry on the next distinct backend clockwise: the one that would own these keys without it.
      for (let step = 1; step < size; step++) {
        let at = lo + step;
        if (at >= size) at -= size;
        chosen = byId[owners[at]];
        if (chosen !== avoid) return chosen;
      }
      return chosen;
    },
  };
}
