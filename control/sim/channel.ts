// A channel between kernel processes: values sent are received in the order sent, each by one
// receiver, receivers served in the order they asked. Sending never blocks (the buffer is unbounded:
// what a simulation sends is bounded by what it simulates). A receive resolves through a promise, so
// the receiver runs in the same turn of the kernel, after the sender has gone on to its next wait.

import { ChannelClosedError } from "./errors.ts";

export class Channel<T> {
  readonly name: string;
  readonly #buffer: T[] = [];
  #head = 0;
  readonly #waiting: { resolve: (value: T) => void; reject: (error: Error) => void }[] = [];
  #closed = false;

  constructor(name: string) {
    this.name = name;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Values sent and not yet received. */
  get length(): number {
    return this.#buffer.length - this.#head;
  }

  send(value: T): void {
    if (this.#closed) throw new ChannelClosedError(this.name);
    const receiver = this.#waiting.shift();
    if (receiver !== undefined) receiver.resolve(value);
    else this.#buffer.push(value);
  }

  /** The next value; rejects with ChannelClosedError once the channel is closed and empty. */
  receive(): Promise<T> {
    if (this.#head < this.#buffer.length) {
      const value = this.#buffer[this.#head++];
      // Compact now and then, so a long-lived channel does not keep what it delivered.
      if (this.#head > 64 && this.#head * 2 > this.#buffer.length) {
        this.#buffer.splice(0, this.#head);
        this.#head = 0;
      }
      return Promise.resolve(value);
    }
    if (this.#closed) return Promise.reject(new ChannelClosedError(this.name));
    return new Promise<T>((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  /** No more values; receivers waiting now, and later ones once the buffer is empty, are refused. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const r of this.#waiting.splice(0)) r.reject(new ChannelClosedError(this.name));
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      try {
        yield await this.receive();
      } catch (error) {
        if (error instanceof ChannelClosedError) return;
        throw error;
      }
    }
  }
}
