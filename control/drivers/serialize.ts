// Per-key serialization for drivers: operations on one VM run one after another (within this
// process), while operations on different VMs still run side by side.

export class KeyedSerializer {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => {});
    this.#tails.set(key, tail);
    // Forget the key once its last operation is done, so the map does not grow with every VM ever seen.
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return next;
  }

  /** An operation on `key` is running or waiting. */
  busy(key: string): boolean {
    return this.#tails.has(key);
  }
}
