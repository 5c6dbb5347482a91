// Where one I/O thread gathers the large bodies it checks on a validation thread: SharedArrayBuffers,
// reused from body to body. The validation thread reads the same memory (nothing is copied to it or
// back), and a valid body goes upstream from it.
//
// Why shared and reused rather than a new buffer per body, transferred there and back: V8 counts
// every ArrayBuffer an isolate allocates or receives against the heap limit that starts a full
// mark-compact. A fresh 10 MB buffer per body, received twice more on the way back, made the I/O
// thread run a mark-compact for nearly every body (about 40 in 10 s at two bodies a second, 2-13 ms
// pauses each) on a heap of 13 MB: the pauses were what small requests waited for. Memory allocated
// once and kept is counted once.

/** Stores are sized in powers of two from this up, so one store serves bodies of nearby sizes. */
const SMALLEST_STORE = 64 * 1024;

export class BodyStores {
  /** Idle stores by size class (log2 of their size). */
  readonly #idle = new Map<number, SharedArrayBuffer[]>();
  #idleBytes = 0;
  /** Past this many idle bytes, a store handed back is dropped (the GC frees it). */
  #maxIdleBytes: number;

  constructor(maxIdleBytes: number) {
    this.#maxIdleBytes = maxIdleBytes;
  }

  set maxIdleBytes(bytes: number) {
    this.#maxIdleBytes = bytes;
    this.#trim();
  }

  /** A store of at least `length` bytes, viewed as a Buffer of exactly `length`: an idle one when there is one. */
  take(length: number): Buffer {
    const sizeClass = classOf(length);
    const idle = this.#idle.get(sizeClass);
    const reused = idle?.pop();
    if (reused !== undefined) {
      this.#idleBytes -= reused.byteLength;
      return Buffer.from(reused, 0, length);
    }
    return Buffer.from(new SharedArrayBuffer(2 ** sizeClass), 0, length);
  }

  /**
   * Takes a store back for the next body. Only once nothing uses it any more: no validation thread
   * reads it, and no write still in flight (or that a retry could send again) points into it.
   */
  give(view: Buffer): void {
    const store = view.buffer;
    if (!(store instanceof SharedArrayBuffer)) return;
    const sizeClass = Math.log2(store.byteLength);
    if (!Number.isInteger(sizeClass) || this.#idleBytes + store.byteLength > this.#maxIdleBytes) return;
    let idle = this.#idle.get(sizeClass);
    if (idle === undefined) this.#idle.set(sizeClass, (idle = []));
    idle.push(store);
    this.#idleBytes += store.byteLength;
  }

  #trim(): void {
    for (const [sizeClass, idle] of [...this.#idle].sort((a, b) => b[0] - a[0])) {
      while (this.#idleBytes > this.#maxIdleBytes && idle.length > 0) {
        idle.pop();
        this.#idleBytes -= 2 ** sizeClass;
      }
    }
  }
}

/** The size of the store a body of `length` bytes is gathered in: what its memory really is. */
export function storeCapacity(length: number): number {
  return 2 ** classOf(length);
}

function classOf(length: number): number {
  return Math.max(Math.log2(SMALLEST_STORE), Math.ceil(Math.log2(Math.max(length, 1))));
}
