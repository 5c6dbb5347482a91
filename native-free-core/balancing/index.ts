// Builds the picker a pool's policy names.

import type { HashKey, PolicyName } from "../config.ts";
import type { Candidate, Picker } from "./picker.ts";
import { roundRobin } from "./round-robin.ts";
import { leastRequest } from "./least-request.ts";
import { consistentHash } from "./consistent-hash.ts";
import { randomPick } from "./random.ts";

export type { Candidate, PickRequest, Picker } from "./picker.ts";
export { effectiveWeight } from "./picker.ts";
export { roundRobin } from "./round-robin.ts";
export { leastRequest } from "./least-request.ts";
export { consistentHash, hash32 } from "./consistent-hash.ts";
export { randomPick } from "./random.ts";

export function createPicker<B extends Candidate>(
  policy: PolicyName,
  backends: readonly B[],
  hashKey: HashKey,
): Picker<B> {
  switch (policy) {
    case "round-robin":
      return roundRobin(backends);
    case "least-request":
      return leastRequest(backends);
    case "consistent-hash":
      return consistentHash(backends, hashKey);
    case "random":
      return randomPick(backends);
    default: {
      const unknown: never = policy;
      throw new Error(`unknown balancing policy: ${String(unknown)}`);
    }
  }
}
