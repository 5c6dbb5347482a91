// Seeded randomness that nothing else can disturb. Every consumer draws from a stream of its own,
// named by what it is for ("boot sim-7#2", "picks orders-balancer-1@3600000"), derived from the run's
// seed alone. So adding a consumer, or one stream drawing more than it did, never changes the numbers
// another stream gets: a simulation that changes in one place stays the same everywhere else, and
// the explorer's state hash need not carry a generator's position.

export class SeededRandom {
  readonly seed: number;

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`a seed is a whole number, 0 or more (got ${seed})`);
    this.seed = seed;
  }

  /** A generator of numbers in [0, 1) for `label`: the same seed and label give the same sequence. */
  stream(label: string): () => number {
    return mulberry32(fnv1a(`${this.seed}\u0000${label}`));
  }

  /** One number in [0, 1) for `label`. */
  unit(label: string): number {
    return this.stream(label)();
  }
}

/** FNV-1a over the string's UTF-16 code units: a 32-bit seed for a stream. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Mulberry32: small, fast, and good enough for spreading boot times and picks. */
function mulberry32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
