// A driver's event stream: listeners come and go, a throwing listener does not stop the others, and a
// closed driver reports nothing more.

import type { DriverEvent } from "./driver.ts";

export class DriverEvents {
  readonly #listeners = new Set<(event: DriverEvent) => void>();
  #closed = false;

  get closed(): boolean {
    return this.#closed;
  }

  emit(event: DriverEvent): void {
    if (this.#closed) return;
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch {
        // A listener's failure is its own business.
      }
    }
  }

  subscribe(listener: (event: DriverEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  close(): void {
    this.#closed = true;
    this.#listeners.clear();
  }
}
