// The kernel's timers, in the order they are due: a binary min-heap on (due time, sequence number), so
// that timers due at the same instant wake in the order they were set. A farm of 10,000 VMs keeps
// thousands of timers; a sorted array would cost O(n) per sleep, the heap costs O(log n).
// A cancelled timer (its sleep aborted) stays in the heap, marked, and is dropped when it surfaces:
// finding it to take it out would cost O(n).

export interface Timer {
  readonly at: number;
  readonly seq: number;
  /** A background wait (a periodic pass) does not keep a simulation from being settled. */
  readonly background: boolean;
  readonly wake: () => void;
  cancelled: boolean;
}

export class TimerHeap {
  readonly #items: Timer[] = [];
  #live = 0;
  #foreground = 0;

  /** Timers still due (cancelled ones not counted). */
  get size(): number {
    return this.#live;
  }

  /** Timers still due that are not background waits. */
  get foreground(): number {
    return this.#foreground;
  }

  push(timer: Timer): void {
    const items = this.#items;
    items.push(timer);
    this.#live++;
    if (!timer.background) this.#foreground++;
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(timer, items[parent])) break;
      items[i] = items[parent];
      i = parent;
    }
    items[i] = timer;
  }

  cancel(timer: Timer): void {
    if (timer.cancelled) return;
    timer.cancelled = true;
    this.#live--;
    if (!timer.background) this.#foreground--;
  }

  /** The next timer due, or undefined. */
  peek(): Timer | undefined {
    this.#dropCancelled();
    return this.#items[0];
  }

  /** Takes the next timer due off the heap. */
  pop(): Timer | undefined {
    this.#dropCancelled();
    const top = this.#items[0];
    if (top === undefined) return undefined;
    this.#removeTop();
    this.#live--;
    if (!top.background) this.#foreground--;
    return top;
  }

  /** Every timer still due, in no particular order (for a state's fingerprint). */
  *live(): Iterable<Timer> {
    for (const t of this.#items) if (!t.cancelled) yield t;
  }

  #dropCancelled(): void {
    while (this.#items.length > 0 && this.#items[0].cancelled) this.#removeTop();
  }

  #removeTop(): void {
    const items = this.#items;
    const last = items.pop()!;
    if (items.length === 0) return;
    let i = 0;
    const n = items.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && before(items[r], items[l]) ? r : l;
      if (!before(items[child], last)) break;
      items[i] = items[child];
      i = child;
    }
    items[i] = last;
  }
}

function before(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
