// Every shape that crosses between the explorer (main thread) and its piscina workers: one file, so
// the protocol between threads is readable in one screen.

import type { ReconcilerOptions } from "../../reconcile/reconciler.ts";
import type { Violation } from "../invariants.ts";

/** What every run of one verification shares: the script, the world, the bounds. */
export interface VerifyConfig {
  /** The script's absolute path: each worker imports it once. */
  readonly script: string;
  readonly farm: string;
  readonly seed: number;
  readonly boundMs: number;
  /** [seconds, rps] at every balancer; null: no demand. */
  readonly demand: readonly (readonly [number, number])[] | null;
  readonly world: { readonly bootMs: number; readonly stopMs: number; readonly jitter: number };
  readonly reconciler: ReconcilerOptions;
  /** K: the most failures in one run. */
  readonly failures: number;
  /** How long a run goes on after its last failure (or after the script, without one) before it is torn down. */
  readonly horizonMs: number;
}

/** A VM crashes between turn `turn` and the next. */
export interface Placement {
  readonly turn: number;
  readonly vm: string;
}

/** One schedule to run: its failures, and where the farm is torn down (null: at the run's horizon). */
export interface Child {
  readonly faults: readonly Placement[];
  readonly teardownTurn: number | null;
}

/** A state a run reached after its last failure, new to it: where the next failure, or a teardown, may go. */
export interface Branch {
  readonly turn: number;
  /** The state's digest (16 hex digits of fingerprint.ts's SHA-1). */
  readonly digest: string;
  /** The farm's VMs that run there: what can crash. */
  readonly running: readonly string[];
  /** The script had finished (a teardown can go here). */
  readonly scripted: boolean;
}

/** What one run found. */
export interface RunReport {
  readonly child: Child;
  readonly violation: Violation | null;
  /** Virtual time when the run ended (before any teardown), and the turn. */
  readonly endedAt: number;
  readonly endTurn: number;
  /** Where the run tore the farm down when it reached its horizon. */
  readonly tornDownAt: number | null;
  /** It reached a state already explored and stopped there. */
  readonly pruned: boolean;
  readonly branches: readonly Branch[];
  /** The VMs that ran at its last failure's turn, before it: simultaneous failures go there. */
  readonly runningAtLastFault: readonly string[];
}

/**
 * A piscina task: run these children, in order, sharing what they see. `seen` holds the digests of
 * states explored at shallower levels (16-hex-digit digests, sorted, in shared memory) with the
 * failure budget each was explored with: a run reaching one with at least its own budget stops.
 */
export interface ExploreTask {
  readonly config: VerifyConfig;
  readonly children: readonly Child[];
  readonly seen: SharedSeen;
  /** Whether runs report their branches (not at the last level). */
  readonly branching: boolean;
}

/** Digests (as unsigned 64-bit integers, sorted) and their budgets, in SharedArrayBuffers: shared by every task of a level, never copied. */
export interface SharedSeen {
  readonly digests: BigUint64Array;
  readonly budgets: Uint8Array;
}

export interface ExploreResult {
  readonly reports: readonly RunReport[];
}
