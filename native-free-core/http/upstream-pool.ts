// Keep-alive connections to one backend, owned by one worker thread: reused LIFO (the warmest socket
// first), opened up to a maximum, with a bounded FIFO of requests waiting for one.
//
// With `pipelining` above 1, requests that are safe to replay (GET and HEAD without a body) may also
// be sent on a connection that still awaits earlier responses, up to that many at once. Combined
// with the per-turn write batching, several requests then leave in one write and several responses
// arrive in one read: fewer syscalls per request than one exchange per connection allows.

import net from "node:net";
import type { UpstreamOptions } from "../config.ts";
import { keep, RawStream } from "../net/raw-stream.ts";

/** What a connection reports to the requests it carries. */
export interface UpstreamUser {
  onUpstreamReady(conn: UpstreamConnection): void;
  /** Response bytes for the oldest request on the connection; returns how many it used, -1 if it dropped the connection. */
  onUpstreamData(conn: UpstreamConnection, data: Buffer): number;
  /**
   * The connection failed or closed while this user was on it (or waiting for it to open). `queued`:
   * an earlier request was still ahead of this one, so the backend may never have read it.
   */
  onUpstreamGone(conn: UpstreamConnection, connected: boolean, queued: boolean): void;
  onUpstreamDrain(): void;
  /**
   * The backend this user was queued for left the routable set before a connection came free, or
   * the pool it was held for (empty until now) has a backend: choose again.
   */
  onBackendRetired(): void;
}

export class UpstreamConnection {
  readonly socket: net.Socket;
  /** Reads and writes, straight on the socket's handle (see net/raw-stream.ts). */
  readonly io: RawStream;
  readonly pool: UpstreamPool;
  /** Requests on the connection awaiting their responses, oldest first. */
  readonly users: UpstreamUser[] = [];
  /** Every request on it may share the connection (see the module comment). */
  shareable = false;
  connected = false;
  /** Served at least one request before: the backend may have closed it meanwhile. */
  reused = false;
  closed = false;
  idleSince = 0;
  /** Requests given this connection so far (see UpstreamOptions.maxRequestsPerConnection). */
  requests = 1;

  constructor(pool: UpstreamPool, user: UpstreamUser) {
    this.pool = pool;
    this.users.push(user);
    const socket = net.connect({ host: pool.address, port: pool.port, noDelay: true, allowHalfOpen: false });
    this.socket = socket;
    socket.setTimeout(pool.options.connectTimeoutMs);
    socket.once("connect", this.#onConnect);
    this.io = new RawStream(socket, this.#onData, this.#onDrain);
    socket.on("timeout", this.#onTimeout);
    socket.on("error", noop);
    socket.on("close", this.#onClose);
  }

  #onConnect = (): void => {
    this.connected = true;
    this.socket.setTimeout(0);
    this.pool.connected();
    this.users[0]?.onUpstreamReady(this);
    // Only after the first request is written may others queue behind it.
    if (this.shareable && !this.closed) this.pool.hasRoom(this);
  };

  #onData = (data: Buffer): void => {
    // A lent read (a response body streaming to its client) is valid during this call only: what
    // its user leaves of it, the next response, is copied for the users after.
    let lent = this.io.lendReads;
    let used = 0;
    while (used < data.length) {
      const user = this.users[0];
      if (user === undefined) {
        // Bytes nobody asked for: the connection's framing can no longer be trusted.
        this.destroy(null);
        return;
      }
      const n = user.onUpstreamData(this, used === 0 ? data : data.subarray(used));
      if (n < 0 || this.closed) return;
      used += n;
      if (lent && used < data.length) {
        data = keep(data.subarray(used));
        used = 0;
        lent = false;
      }
    }
  };

  #onDrain = (): void => {
    for (const user of this.users) user.onUpstreamDrain();
  };

  #onTimeout = (): void => {
    // Only armed while connecting.
    this.socket.destroy(new Error("connect timeout"));
  };

  #onClose = (): void => {
    if (this.closed) return;
    this.closed = true;
    this.pool.forget(this);
    const users = this.users.splice(0);
    for (let i = 0; i < users.length; i++) users[i].onUpstreamGone(this, this.connected, i > 0);
  };

  /** The oldest request's response is complete. */
  responseDone(reusable: boolean, now: number): void {
    const user = this.users.shift();
    this.io.lendReads = false;
    if (!reusable || this.#spent()) {
      this.destroy(null);
      return;
    }
    this.reused = true;
    if (this.users.length === 0) this.pool.release(this, now);
    else if (user !== undefined) this.pool.hasRoom(this);
  }

  /** The connection carried as many requests as it may: it takes no more, and closes when they are done. */
  #spent(): boolean {
    const max = this.pool.options.maxRequestsPerConnection;
    return max > 0 && this.requests >= max && this.users.length === 0;
  }

  /** Whether another request may go on this connection. */
  get hasCapacity(): boolean {
    const max = this.pool.options.maxRequestsPerConnection;
    return max === 0 || this.requests < max;
  }

  /** Takes back a user that was given the connection but never wrote its request on it. */
  withdraw(user: UpstreamUser, now: number): void {
    const i = this.users.indexOf(user);
    if (i < 0) return;
    this.users.splice(i, 1);
    if (this.users.length === 0 && !this.closed) this.pool.release(this, now);
  }

  /**
   * Closes the connection. `by`, the user who decided it, is not told; any other request still on
   * it is (and may be retried elsewhere).
   */
  destroy(by: UpstreamUser | null): void {
    if (this.closed) return;
    this.closed = true;
    this.pool.forget(this);
    this.socket.destroy();
    const others = this.users.splice(0).filter((u) => u !== by);
    for (const user of others) user.onUpstreamGone(this, this.connected, true);
  }
}

export class UpstreamPool {
  readonly address: string;
  readonly port: number;
  options: UpstreamOptions;
  /** Idle connections, most recently used last. */
  readonly #idle: UpstreamConnection[] = [];
  /** Connected connections carrying shareable requests with room for more (only with pipelining). */
  readonly #sharing: UpstreamConnection[] = [];
  /** Users waiting for a connection, oldest first, from index #waitHead; and whether each could share one. */
  #waiters: UpstreamUser[] = [];
  #waiterShares: boolean[] = [];
  #waitHead = 0;
  #open = 0;
  /** Whether new requests may be queued; false once the backend left the routable set. */
  accepting = true;
  readonly #onOpen: (delta: number, connected: boolean) => void;

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
   * Gives `user` a connection now (onUpstreamReady is called synchronously for an idle or shared
   * one), soon (a new connection), or later (queued). `fresh` insists on a new connection (a retry);
   * `shareable` allows pipelining behind other requests. Returns false when the queue is full.
   */
  acquire(user: UpstreamUser, fresh: boolean, shareable: boolean): boolean {
    const share = shareable && this.options.pipelining > 1;
    if (!fresh) {
      if (share) {
        const sharing = this.#sharing;
        for (let i = 0; i < sharing.length; i++) {
          const conn = sharing[i];
          if (conn.closed || !conn.shareable || !conn.hasCapacity) continue;
          conn.users.push(user);
          conn.requests++;
          if (conn.users.length >= this.options.pipelining) sharing.splice(i, 1);
          user.onUpstreamReady(conn);
          return true;
        }
      }
      const conn = this.#idle.pop();
      if (conn !== undefined) {
        this.#assign(conn, user, share);
        return true;
      }
    }
    if (this.#open < this.options.maxConnectionsPerBackend || fresh) {
      this.#open++;
      new UpstreamConnection(this, user).shareable = share;
      return true;
    }
    if (this.waiting >= this.options.maxQueue) return false;
    this.#waiters.push(user);
    this.#waiterShares.push(share);
    return true;
  }

  #assign(conn: UpstreamConnection, user: UpstreamUser, share: boolean): void {
    conn.users.push(user);
    conn.requests++;
    conn.shareable = share;
    if (share) this.#sharing.push(conn);
    user.onUpstreamReady(conn);
  }

  /** A waiting user gave up (timeout or client gone). */
  cancelWait(user: UpstreamUser): void {
    const i = this.#waiters.indexOf(user, this.#waitHead);
    if (i >= 0) {
      this.#waiters.splice(i, 1);
      this.#waiterShares.splice(i, 1);
    }
  }

  /** A shared connection opened, or finished one of its requests: it can take more. */
  hasRoom(conn: UpstreamConnection): void {
    if (!conn.shareable || conn.closed) return;
    // Waiters that may share go first, in order, as long as the oldest one may.
    while (conn.users.length < this.options.pipelining && conn.hasCapacity && this.waiting > 0 && this.#waiterShares[this.#waitHead]) {
      const waiter = this.#nextWaiter()!;
      conn.users.push(waiter);
      conn.requests++;
      waiter.onUpstreamReady(conn);
      if (conn.closed) return;
    }
    if (conn.users.length < this.options.pipelining && conn.hasCapacity && !this.#sharing.includes(conn)) this.#sharing.push(conn);
  }

  /** Every request on `conn` is done and the connection is reusable. */
  release(conn: UpstreamConnection, now: number): void {
    removeFrom(this.#sharing, conn);
    if (!conn.hasCapacity) {
      conn.destroy(null);
      return;
    }
    const share = this.waiting > 0 && this.#waiterShares[this.#waitHead] && this.options.pipelining > 1;
    const waiter = this.#nextWaiter();
    if (waiter !== undefined) {
      this.#assign(conn, waiter, share);
      if (share) this.hasRoom(conn);
      return;
    }
    if (!this.accepting) {
      conn.destroy(null);
      return;
    }
    conn.idleSince = now;
    this.#idle.push(conn);
  }

  /** Closes connections idle since before `cutoff`. */
  closeIdle(cutoff: number): void {
    const idle = this.#idle;
    // Oldest first: idle[0] has waited longest.
    while (idle.length > 0 && idle[0].idleSince < cutoff) idle.shift()!.destroy(null);
  }

  /** Stops queueing and closes idle connections: the backend takes no new requests from this worker. */
  retire(): UpstreamUser[] {
    this.accepting = false;
    this.#sharing.length = 0;
    for (const conn of this.#idle.splice(0)) conn.destroy(null);
    const waiters = this.#waiters.slice(this.#waitHead);
    this.#waiters = [];
    this.#waiterShares = [];
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
    removeFrom(this.#idle, conn);
    removeFrom(this.#sharing, conn);
    // A slot opened: let the oldest waiter open a connection of its own.
    if (this.waiting > 0 && this.#open < this.options.maxConnectionsPerBackend) {
      const share = this.#waiterShares[this.#waitHead];
      const waiter = this.#nextWaiter();
      if (waiter !== undefined) {
        this.#open++;
        new UpstreamConnection(this, waiter).shareable = share;
      }
    }
  }

  #nextWaiter(): UpstreamUser | undefined {
    if (this.#waitHead >= this.#waiters.length) return undefined;
    const waiter = this.#waiters[this.#waitHead++];
    if (this.#waitHead > 64 && this.#waitHead * 2 > this.#waiters.length) {
      this.#waiters = this.#waiters.slice(this.#waitHead);
      this.#waiterShares = this.#waiterShares.slice(this.#waitHead);
      this.#waitHead = 0;
    }
    return waiter;
  }
}

function removeFrom<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}

function noop(): void {}
