// The simulation's kernel: processes, a virtual clock, seeded randomness. It is the only Clock of a
// simulated farm, so every wait of the reconciler, the autoscaler, the simulated hypervisor and
// balancers is one of its timers, and time moves only when the kernel moves it.
//
// A turn: the kernel takes every timer due at the earliest due time, moves the clock there, wakes
// them in the order they were set, and lets whatever they set off run until it waits again. Because
// a simulation does no real I/O, everything a wake sets off is a chain of promise reactions, and one
// turn of Node's event loop (one setImmediate) runs every microtask there is: when it fires, the
// simulated world is quiescent, waiting only on the kernel's timers. So the next turn starts from a
// state that depends on nothing but the turns before it; neither the wall clock nor the event loop's
// timing can reach in. Two runs with the same steps take the same turns, to the byte.
//
// Turns are numbered: the explorer (verify) places failures between turns, and the hooks run there.

import type { Clock } from "../drivers/driver.ts";
import { SimulationStalledError } from "./errors.ts";
import { SeededRandom } from "./random.ts";
import { TimerHeap, type Timer } from "./timer-heap.ts";

export interface KernelOptions {
  /** Virtual time at the start, in ms. Default 0. */
  readonly start?: number;
  /** Seeds every random stream of the run. Default 0. */
  readonly seed?: number;
}

/** A process of the kernel: a named async body whose outcome is kept (a failing one never goes unhandled). */
export interface Task<T> {
  readonly name: string;
  readonly done: Promise<T>;
  readonly state: "running" | "done" | "failed";
  readonly error: unknown;
}

/**
 * Called between turns, when the world is quiescent, with the number of turns taken so far. Returns
 * true when it set something off (a failure it injected), which then runs before the next turn.
 */
export type TurnHook = (turn: number) => boolean | void;

export class Kernel implements Clock {
  readonly random: SeededRandom;
  #now: number;
  #seq = 0;
  #turn = 0;
  readonly #timers = new TimerHeap();
  readonly #hooks: TurnHook[] = [];
  /** Processes that failed: kept to be reported (those that ended well are forgotten). */
  readonly #failed: Task<unknown>[] = [];
  #spawned = 0;

  constructor(options: KernelOptions = {}) {
    this.#now = options.start ?? 0;
    this.random = new SeededRandom(options.seed ?? 0);
  }

  // ---- Clock --------------------------------------------------------------------------------------

  now(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal, background = false): Promise<void> {
    if (signal?.aborted === true) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let onAbort: (() => void) | null = null;
      const timer: Timer = {
        at: this.#now + Math.max(0, Number.isFinite(ms) ? ms : 0),
        seq: this.#seq++,
        background,
        cancelled: false,
        wake: () => {
          if (onAbort !== null) signal!.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      if (signal !== undefined) {
        // An aborted wait ends now; its timer is dropped, not woken.
        onAbort = () => {
          this.#timers.cancel(timer);
          resolve();
        };
        signal.addEventListener("abort", onAbort, { once: true });
      }
      this.#timers.push(timer);
    });
  }

  // ---- what a simulation asks of it ------------------------------------------------------------------

  /** Turns taken so far. */
  get turn(): number {
    return this.#turn;
  }

  /** Timers due (background ones included). */
  get pending(): number {
    return this.#timers.size;
  }

  /** No timer is due but background ones (periodic passes): nothing is under way. */
  get settled(): boolean {
    return this.#timers.foreground === 0;
  }

  /** Timers due that are not background waits: how many things are under way. */
  get foregroundTimers(): number {
    return this.#timers.foreground;
  }

  /** When the next timer is due, or null when none is. */
  nextDue(): number | null {
    return this.#timers.peek()?.at ?? null;
  }

  /** The timers due, relative to now, in order: part of a state's fingerprint. */
  timersFromNow(): { readonly in: number; readonly background: boolean }[] {
    return [...this.#timers.live()]
      .sort((a, b) => a.at - b.at || a.seq - b.seq)
      .map((t) => ({ in: t.at - this.#now, background: t.background }));
  }

  /** Runs `hook` between turns from now on; returns how to stop it. */
  onTurn(hook: TurnHook): () => void {
    this.#hooks.push(hook);
    return () => {
      const i = this.#hooks.indexOf(hook);
      if (i >= 0) this.#hooks.splice(i, 1);
    };
  }

  /** Starts a process. Its failure is kept on the task (and in failedTasks), never left unhandled. */
  spawn<T>(name: string, body: () => Promise<T>): Task<T> {
    const task = new TaskImpl<T>(name, body);
    this.#spawned++;
    task.done.catch(() => this.#failed.push(task));
    return task;
  }

  /** Processes started so far. */
  get spawned(): number {
    return this.#spawned;
  }

  /** The processes that failed, in the order they did. */
  get failedTasks(): readonly Task<unknown>[] {
    return this.#failed;
  }

  /**
   * One turn: lets what was set off between turns run, then wakes every timer due at the earliest
   * due time (not after `limit`) and lets what they set off run. Returns false, taking no turn, when
   * no timer is due by `limit`.
   */
  async step(limit = Infinity): Promise<boolean> {
    await quiesce();
    return this.#turnOnce(limit);
  }

  /** A turn, from a quiescent world (what every loop here keeps it at between turns). */
  async #turnOnce(limit: number): Promise<boolean> {
    const first = this.#timers.peek();
    if (first === undefined || first.at > limit) return false;
    this.#now = first.at;
    // Every timer due now wakes in this turn, in the order set; what they set for "now" waits for the next.
    const due: Timer[] = [];
    for (let t = this.#timers.peek(); t !== undefined && t.at === this.#now; t = this.#timers.peek()) due.push(this.#timers.pop()!);
    for (const t of due) t.wake();
    await quiesce();
    this.#turn++;
    if (this.#hooks.length > 0) {
      let acted = false;
      for (const hook of [...this.#hooks]) acted = hook(this.#turn) === true || acted;
      // What a hook set off (a failure it injected) runs now, so the next turn starts quiescent.
      if (acted) await quiesce();
    }
    return true;
  }

  /** Moves time on by `ms`, taking every turn due on the way. */
  async advance(ms: number): Promise<void> {
    await this.runUntilTime(this.#now + ms);
  }

  /** Takes every turn due by `at`, then sets the clock to `at`. */
  async runUntilTime(at: number): Promise<void> {
    await quiesce();
    while (await this.#turnOnce(at));
    if (at > this.#now) this.#now = at;
  }

  /**
   * Takes turns until `work` settles and returns what it gave. Throws SimulationStalledError when
   * nothing is due to happen while it still waits, or when `limitMs` of virtual time pass first.
   */
  async runUntil<T>(work: Promise<T>, what = "the work", limitMs = 7 * 24 * 3600_000): Promise<T> {
    let done = false;
    const settled = work.finally(() => (done = true));
    settled.catch(() => {});
    const deadline = this.#now + limitMs;
    await quiesce();
    while (!done) {
      if (!(await this.#turnOnce(deadline))) throw new SimulationStalledError(what, this.#now);
    }
    return settled;
  }

  /**
   * Takes turns while `go()` holds (asked between turns) and a timer is due by `limit`. Returns why
   * it stopped: `go` said no, the next timer is past the limit (the clock is then at the limit), or
   * no timer is due at all.
   */
  async runWhile(go: () => boolean, limit = Infinity): Promise<"stopped" | "limit" | "idle"> {
    await quiesce();
    for (;;) {
      if (!go()) return "stopped";
      if (!(await this.#turnOnce(limit))) {
        if (this.#timers.size === 0) return "idle";
        if (limit > this.#now) this.#now = limit;
        return "limit";
      }
    }
  }

  /** Takes turns until only background timers are left (or `limitMs` passes): everything under way has finished. */
  async settle(limitMs = 24 * 3600_000): Promise<void> {
    const deadline = this.#now + limitMs;
    await quiesce();
    while (!this.settled && (await this.#turnOnce(deadline)));
  }
}

/**
 * Lets every promise reaction there is run: with no real I/O pending, all of them have run by the
 * time a setImmediate callback does (Node drains the microtask and nextTick queues before it).
 */
export function quiesce(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

class TaskImpl<T> implements Task<T> {
  readonly name: string;
  readonly done: Promise<T>;
  state: "running" | "done" | "failed" = "running";
  error: unknown = undefined;

  constructor(name: string, body: () => Promise<T>) {
    this.name = name;
    this.done = (async () => body())().then(
      (value) => {
        this.state = "done";
        return value;
      },
      (error: unknown) => {
        this.state = "failed";
        this.error = error;
        throw error;
      },
    );
    this.done.catch(() => {});
  }
}
