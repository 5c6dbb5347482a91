// How a simulated balancer spreads its requests: by the data plane's own pickers (native-free-core/
// balancing/), driven by a seeded random instead of Math.random. A sample of requests is sent
// through the pool's picker, each pick adding to the backend's load as a real request in flight
// would (least-request compares those loads, slow start scales the weights), and the counts give
// each backend's share of what is in flight. Requests are not simulated one by one: demand is a rate,
// and by Little's law a pool holds rate x service time requests in flight, spread by these shares.

import { consistentHash, leastRequest, randomPick, roundRobin, type Candidate, type Picker } from "../../../native-free-core/balancing/index.ts";
import type { PolicyName } from "../../../native-free-core/config.ts";

export interface Routable {
  readonly id: string;
  readonly weight: number;
  /** Virtual ms until which it warms up (slow start); 0 when it does not. */
  readonly warmUntil: number;
}

/** Picks per sample: enough for a share per backend to settle, bounded for large pools. */
const MIN_SAMPLE = 64;
const PER_BACKEND = 8;
const MAX_SAMPLE = 4096;

/**
 * Each routable backend's share (0..1, summing to 1) of the pool's requests now, as its picker would
 * give them. `random` is the seeded stream the picker draws from.
 */
export function sharesOf(policy: PolicyName, backends: readonly Routable[], slowStartMs: number, now: number, random: () => number): Map<string, number> {
  const shares = new Map<string, number>();
  if (backends.length === 0) return shares;
  if (backends.length === 1) return shares.set(backends[0].id, 1);
  const candidates: Candidate[] = backends.map((b) => ({ id: b.id, weight: b.weight, warmUntil: b.warmUntil, warmupMs: slowStartMs, active: 0 }));
  const picker = pickerFor(policy, candidates, random);
  const samples = Math.min(MAX_SAMPLE, Math.max(MIN_SAMPLE, PER_BACKEND * candidates.length));
  for (let i = 0; i < samples; i++) {
    // Clients spread over a /16, for the hash ring's sake.
    const chosen = picker.pick({ clientAddress: `10.254.${(i >> 8) & 255}.${i & 255}`, hashHeader: undefined }, now);
    if (chosen !== undefined) chosen.active++;
  }
  for (const c of candidates) shares.set(c.id, c.active / samples);
  return shares;
}

/** The picker a policy names, as native-free-core builds it, with the random numbers it draws made seeded. */
function pickerFor(policy: PolicyName, candidates: readonly Candidate[], random: () => number): Picker<Candidate> {
  switch (policy) {
    case "round-robin": return roundRobin(candidates);
    case "least-request": return leastRequest(candidates, random);
    case "random": return randomPick(candidates, random);
    case "consistent-hash": return consistentHash(candidates, { kind: "client-address" });
  }
}
