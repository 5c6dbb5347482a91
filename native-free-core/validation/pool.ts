// One I/O thread's pool of validation threads (piscina), started on the first large body. A body goes
// over as a view of the shared memory it was gathered in (body-stores.ts): the thread reads those
// bytes in place, so nothing is copied either way, and the I/O thread never parses it. A thread that
// dies (its heap limit, a bug) fails the requests it held and is replaced by piscina.

import type { JsonSchema, ValidationPoolOptions } from "../config.ts";
import type { BodyRefusal, Media } from "./body.ts";

/** The message a validation thread gets (one tagged shape: the only one that crosses to it). */
export interface ValidationTask {
  /** Identifies the compiled validator: the contract's digest and the operation. */
  readonly key: string;
  readonly schema: JsonSchema;
  readonly media: Media;
  /** "orders@1 place", for the message of a refusal. */
  readonly label: string;
  /** The body's store, shared with the I/O thread, which leaves it alone until the task settles. */
  readonly body: SharedArrayBuffer;
  readonly length: number;
}

const POOL_THREAD_URL = new URL("./pool-thread.ts", import.meta.url);
/** A thread idle this long ends; the next large body starts one again. */
const IDLE_TIMEOUT_MS = 30_000;

type PiscinaModule = typeof import("piscina");
type Piscina = InstanceType<PiscinaModule["Piscina"]>;

export class ValidationPool {
  #options: ValidationPoolOptions;
  #pool: Promise<Piscina> | null = null;

  constructor(options: ValidationPoolOptions) {
    this.#options = options;
  }

  /** New options apply to threads started from now on (a running pool keeps its size until it is closed). */
  set options(options: ValidationPoolOptions) {
    this.#options = options;
  }

  /** null when the body is valid; the refusal otherwise. Rejects when the thread failed. */
  async run(task: ValidationTask): Promise<BodyRefusal | null> {
    const pool = await (this.#pool ??= this.#start());
    return pool.run(task) as Promise<BodyRefusal | null>;
  }

  /** The pool's threads now (for tests that make one fail). */
  async threads(): Promise<readonly { terminate(): Promise<number> }[]> {
    return this.#pool === null ? [] : (await this.#pool).threads;
  }

  async #start(): Promise<Piscina> {
    // Loaded on first use: a balancer without large validated bodies never pays for it.
    const { Piscina } = await import("piscina");
    const o = this.#options;
    return new Piscina({
      filename: POOL_THREAD_URL.href,
      minThreads: 1,
      maxThreads: o.threads,
      idleTimeout: IDLE_TIMEOUT_MS,
      // No heap limit: V8 enforces one by aborting the whole process when a thread reaches it inside
      // JSON.parse, which cannot be interrupted. What a parse may allocate is bounded by the
      // listener's maxBodyBytes instead.
      // Every body reserved its memory before it was read, and keeps it until its task settles (not
      // merely until its client stops waiting): the queue holds no more than that budget allows.
      maxQueue: Infinity,
    });
  }

  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = null;
    if (pool !== null) await (await pool).destroy();
  }
}
