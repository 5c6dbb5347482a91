// Time on the emulated cluster. Two clocks: the emulated wall clock (options.now), which tickets
// expire by and task start times are stamped with, so a test can move it by hours; and the
// monotonic clock, which paces what really takes time here (a guest booting, an uptime). Delays
// (a task taking taskDelayMs) are real timers: the guests are real processes.

export class ClusterTime {
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  /** The cluster's wall clock, ms since the epoch. */
  now(): number {
    return this.#now();
  }

  /** Monotonic ms, for boots and uptimes. */
  monotonic(): number {
    return performance.now();
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  /** Waits for `work`, or `ms` at most, leaving no timer behind when `work` wins. */
  async within(work: Promise<unknown>, ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([work, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
  }
}
