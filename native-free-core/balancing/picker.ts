// The interface every balancing policy implements. A worker rebuilds its pickers from an immutable
// snapshot whenever the pool changes, so a picker never sees a backend that is down, ejected or
// draining; it only chooses among the candidates it was built with.

export interface Candidate {
  /** Stable identity, "address:port"; consistent hashing places a backend on the ring by it. */
  readonly id: string;
  /** Configured weight, >= 1. */
  readonly weight: number;
  /** Epoch milliseconds until which the backend is warming up (slow start); 0 when it is not. */
  readonly warmUntil: number;
  /** Milliseconds the warm-up lasts in all (the pool's slowStartMs); 0 when slow start is off. */
  readonly warmupMs: number;
  /** Requests this worker has in flight to the backend; updated by the worker as requests start and end. */
  active: number;
}

export interface PickRequest {
  /** The client's address as the proxy saw it. */
  readonly clientAddress: string;
  /** The value of the pool's hash header, when the pool hashes on a header and the request carries it. */
  readonly hashHeader: string | undefined;
}

export interface Picker<B extends Candidate> {
  /**
   * Chooses a backend, or undefined when there is none to choose. `avoid`, when given, is not chosen
   * unless it is the only candidate (used when retrying a request elsewhere after a connect failure).
   */
  pick(request: PickRequest, now: number, avoid?: B): B | undefined;
}

/** Slow start: a warming backend's weight grows linearly from 10% to 100% over its warm-up. */
export function effectiveWeight(c: Candidate, now: number): number {
  if (c.warmUntil <= now || c.warmupMs <= 0) return c.weight;
  const elapsed = c.warmupMs - (c.warmUntil - now);
  const factor = Math.max(0.1, Math.min(1, elapsed / c.warmupMs));
  return c.weight * factor;
}
