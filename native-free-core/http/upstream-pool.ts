// Keep-alive connections to one backend, owned by one worker thread: reused LIFO (the warmest socket
// first), opened up to a maximum, with a bounded FIFO of requests waiting for one.

import net from "node:net";
import type { UpstreamOptions } from "../config.ts";

/** What a connection reports to the request that holds it. */
export interface UpstreamUser {
  onUpstreamReady(conn: UpstreamConnection): void;
  onUpstreamData(conn: UpstreamConnection, data: Buffer): void;
  /** The connection failed or closed while this user held it (or was waiting for it to open). */
  onUpstreamGone(conn: UpstreamConnection, connected: boolean): void;
  onUpstreamDrain(): void;
  /** The backend this user was queued for left the routable set before a connection came free. */
  onBackendRetired(): void;
}

export class UpstreamConnection {
  readonly socket: net.Socket;
  readonly pool: UpstreamPool;
  user: UpstreamUser | null = null;
  connected = false;
  /** Served at least one request before: the backend may have closed it meanwhile. */
  reused = false;
  closed = false;
  idleSince = 0;

  constructor(pool: UpstreamPool, user: UpstreamUser) {
    this.pool = pool;
    this.user = user;
    const socket = net.connect({ host: pool.address, port: pool.port, noDelay: true, allowHalfOpen: false });
    this.socket = socket;
    socket.setTimeout(pool.options.connectTimeoutMs);
    socket.once("connect", this.#onConnect);
    socket.on("data", this.#onData);
    socket.on("drain", this.#onDrain);
    socket.on("timeout", this.#onTimeout);
    socket.on("error", this.#onError);
    socket.on("close", this.#onClose);
  }

  #onConnect = (): void => {
    this.connected = true;
    this.socket.setTimeout(0);
    this.pool.connected();
    this.user?.onUpstreamReady(this);
  };

  #onData = (data: Buffer): void => {
    const user = this.user;
    if (user !== null) user.onUpstreamData(this, data);
    else this.destroy(); // bytes nobody asked for: the connection's framing can no longer be trusted
  };

  #onDrain = (): void => {
    this.user?.onUpstreamDrain();
  };

  #onTimeout = (): void => {
    // Only armed while connecting.
    this.socket.destroy(new Error("connect timeout"));
  };

  #onError = (): void => {
    // "close" follows and does the bookkeeping.
  };

  #onClose = (): void => {
    if (this.closed) return;
    this.closed = true;
    this.pool.forget(this);
    const user = this.user;
    this.user = null;
    user?.onUpstreamGone(this, this.connected);
  };

  /** Closes without telling the current user (who asked for it). */
  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.user = null;
    this.pool.forget(this);
    this.socket.destroy();
  }
}

export class UpstreamPool {
  readonly address: string;
  readonly port: number;
  options: UpstreamOptions;
  /** Idle connections, most recently used last. */
  readonly #idle: UpstreamConnection[] = [];
  /** Users waiting for a connection, oldest first, from index #waitHead. */
  #waiters: UpstreamUser[] = [];
  #waitHead = 0;
  #open = 0;
  /** Whether new requests may be queued; false once the backend left the routable set. */
  accepting = true;
  readonly #onOpen: (delta: number, connect: boolean) => void;

  /** `onOpen(delta, connected)` keeps the connection gauges: +1 when one opens, -1 when one closes. */
  constructor(address: string, port: number, options: UpstreamOptions, onOpen: (delta: number, connected: boolean) => void) {
    this.address = address;
    this.port = port;
    this.options = options;
    this.#onOpen = onOpen;
  }

  get openConnections(): number {
    return this.#open;
  }

  get waiting(): number {
    return this.#waiters.length - this.#waitHead;
  }

  /**
   * Gives `user` a connection now (onUpstreamReady is called synchronously for an idle one), soon
   * (a new connection), or later (queued). Returns false when the queue is full: the caller answers 503.
   */
  acquire(user: UpstreamUser, fresh: boolean): boolean {
    if (!fresh) {
      const conn = this.#idle.pop();
      if (conn !== undefined) {
        conn.user = user;
        user.onUpstreamReady(conn);
        return true;
      }
    }
    if (this.#open < this.options.maxConnectionsPerBackend || fresh) {
      this.#open++;
      new UpstreamConnection(this, user);
      return true;
    }
    if (this.waiting >= this.options.maxQueue) return false;
    this.#waiters.push(user);
    return true;
  }

  /** A waiting user gave up (timeout or client gone). */
  cancelWait(user: UpstreamUser): void {
    const i = this.#waiters.indexOf(user, this.#waitHead);
    if (i >= 0) this.#waiters.splice(i, 1);
  }

  /** The request on `conn` is done and the connection is reusable. */
  release(conn: UpstreamConnection, now: number): void {
    conn.reused = true;
    conn.user = null;
    const waiter = this.#nextWaiter();
    if (waiter !== undefined) {
      conn.user = waiter;
      waiter.onUpstreamReady(conn);
      return;
    }
    if (!this.accepting) {
      conn.destroy();
      return;
    }
    conn.idleSince = now;
    this.#idle.push(conn);
  }

  /** Closes connections idle since before `cutoff`. */
  closeIdle(cutoff: number): void {
    const idle = this.#idle;
    // Oldest first: idle[0] has waited longest.
    while (idle.length > 0 && idle[0].idleSince < cutoff) idle.shift()!.destroy();
  }

  /** Stops queueing and closes idle connections: the backend takes no new requests from this worker. */
  retire(): UpstreamUser[] {
    this.accepting = false;
    for (const conn of this.#idle.splice(0)) conn.destroy();
    const waiters = this.#waiters.slice(this.#waitHead);
    this.#waiters = [];
    this.#waitHead = 0;
    return waiters;
  }

  reactivate(): void {
    this.accepting = true;
  }

  connected(): void {
    this.#onOpen(1, true);
  }

  /** Bookkeeping for a connection that closed, however it closed. */
  forget(conn: UpstreamConnection): void {
    this.#open--;
    if (conn.connected) this.#onOpen(-1, false);
    const i = this.#idle.indexOf(conn);
    if (i >= 0) this.#idle.splice(i, 1);
    // A slot opened: let the oldest waiter open a connection of its own.
    if (this.waiting > 0 && this.#open < this.options.maxConnectionsPerBackend) {
      const waiter = this.#nextWaiter();
      if (waiter !== undefined) {
        this.#open++;
        new UpstreamConnection(this, waiter);
      }
    }
  }

  #nextWaiter(): UpstreamUser | undefined {
    if (this.#waitHead >= this.#waiters.length) return undefined;
    const waiter = this.#waiters[this.#waitHead++];
    if (this.#waitHead > 64 && this.#waitHead * 2 > this.#waiters.length) {
      this.#waiters = this.#waiters.slice(this.#waitHead);
      this.#waitHead = 0;
    }
    return waiter;
  }

  get idleCount(): number {
    return this.#idle.length;
  }
}
