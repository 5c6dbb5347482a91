// TCP mode: one client connection balanced as a whole onto one backend and piped both ways. Bytes go
// through as the Buffers that arrived; each side's half-close is passed to the other, and the pair
// closes once both directions have ended.

import net from "node:net";
import { keep, RawStream, READ_BYTES } from "../net/raw-stream.ts";
import { BACKEND, OUTLIER, OUTLIER_STRIDE, POOL } from "../stats/layout.ts";
import type { BackendRuntime, PoolRuntime } from "../worker/pool-runtime.ts";
import type { ListenerRuntime, Session, WorkerEnvironment } from "../worker/environment.ts";

export class TcpSession implements Session {
  readonly #client: net.Socket;
  readonly #clientIo: RawStream;
  #upstreamIo: RawStream | null = null;
  readonly #env: WorkerEnvironment;
  readonly #pool: PoolRuntime | undefined;
  readonly #pick: { clientAddress: string; hashHeader: undefined };
  #upstream: net.Socket | null = null;
  #backend: BackendRuntime | null = null;
  #connected = false;
  #redispatched = false;
  #deadline = Infinity;
  #closed = false;
  /** Client bytes that arrived before the backend connection was up. */
  #early: Buffer[] = [];

  constructor(client: net.Socket, env: WorkerEnvironment, listener: ListenerRuntime) {
    this.#client = client;
    this.#env = env;
    this.#pool = listener.pool;
    this.#pick = { clientAddress: client.remoteAddress ?? "", hashHeader: undefined };
    client.setNoDelay(true);
    this.#clientIo = new RawStream(client, this.#onClientData, this.#onClientDrain);
    client.on("end", this.#onClientEnd);
    client.on("error", noop);
    client.on("close", this.#onClientClose);
    env.sessions.add(this);
    const pool = this.#pool;
    if (pool === undefined) {
      client.destroy();
      return;
    }
    env.stats.add(pool.statsBase + POOL.CLIENT_CONNECTIONS, 1);
    env.stats.add(pool.statsBase + POOL.CLIENT_CONNECTIONS_TOTAL, 1);
    env.stats.add(pool.statsBase + POOL.IN_FLIGHT, 1);
    this.#connect(undefined);
  }

  #connect(avoid: BackendRuntime | undefined): void {
    const pool = this.#pool!;
    let backend = pool.picker.pick(this.#pick, Date.now(), avoid);
    if ((backend === undefined || backend === avoid) && avoid !== undefined) backend = pool.standby?.pick(this.#pick, Date.now());
    if (backend === undefined || backend === avoid) {
      if (avoid === undefined) this.#env.stats.add(pool.statsBase + POOL.NO_BACKEND, 1);
      this.#client.destroy();
      return;
    }
    this.#backend = backend;
    backend.active++;
    this.#env.stats.add(backend.statsBase + BACKEND.IN_FLIGHT, 1);
    this.#deadline = this.#env.coarseNow + pool.upstream.connectTimeoutMs;
    const upstream = net.connect({ host: backend.address, port: backend.port, noDelay: true, allowHalfOpen: true });
    this.#upstream = upstream;
    upstream.once("connect", this.#onConnect);
    this.#upstreamIo = new RawStream(upstream, this.#onUpstreamData, this.#onUpstreamDrain);
    upstream.on("end", this.#onUpstreamEnd);
    upstream.on("error", noop);
    upstream.on("close", this.#onUpstreamClose);
  }

  #onConnect = (): void => {
    this.#connected = true;
    this.#deadline = Infinity;
    const backend = this.#backend!;
    const stats = this.#env.stats;
    stats.add(backend.statsBase + BACKEND.CONNECTIONS, 1);
    stats.add(backend.statsBase + BACKEND.CONNECTIONS_TOTAL, 1);
    const cell = backend.slot * OUTLIER_STRIDE + OUTLIER.CONSECUTIVE_CONNECT_FAILURES;
    if (Atomics.load(stats.outlier, cell) !== 0) Atomics.store(stats.outlier, cell, 0);
    const io = this.#upstreamIo!;
    for (const chunk of this.#early) io.write(chunk);
    this.#early.length = 0;
    if (this.#clientEnded) io.end();
    this.#clientIo.resume();
  };

  #clientEnded = false;

  #onClientData = (data: Buffer): void => {
    const io = this.#upstreamIo;
    if (!this.#connected || io === null || this.#upstream === null) {
      this.#early.push(this.#clientIo.lendReads ? keep(data) : data);
      this.#clientIo.pause();
      return;
    }
    if (!relay(this.#clientIo, io, data)) this.#clientIo.pause();
  };

  #onClientEnd = (): void => {
    this.#clientEnded = true;
    if (this.#connected && this.#upstream !== null) this.#upstreamIo?.end();
  };

  #onClientDrain = (): void => {
    if (this.#upstream !== null) this.#upstreamIo?.resume();
  };

  #onUpstreamData = (data: Buffer): void => {
    const from = this.#upstreamIo;
    if (from === null) this.#clientIo.write(data);
    else if (!relay(from, this.#clientIo, data)) from.pause();
  };

  #onUpstreamEnd = (): void => {
    this.#clientIo.end();
  };

  #onUpstreamDrain = (): void => {
    this.#clientIo.resume();
  };

  #onUpstreamClose = (): void => {
    const backend = this.#backend;
    const stats = this.#env.stats;
    this.#upstream = null;
    this.#upstreamIo = null;
    if (backend !== null) {
      this.#backend = null;
      backend.active--;
      stats.add(backend.statsBase + BACKEND.IN_FLIGHT, -1);
      if (this.#connected) {
        stats.add(backend.statsBase + BACKEND.CONNECTIONS, -1);
      } else if (!this.#closed) {
        // Connect failure: nothing was sent, so try another backend once.
        stats.add(backend.statsBase + BACKEND.CONNECT_ERRORS, 1);
        const threshold = backend.pool.consecutiveConnectFailures;
        const cell = backend.slot * OUTLIER_STRIDE + OUTLIER.CONSECUTIVE_CONNECT_FAILURES;
        if (threshold > 0 && Atomics.add(stats.outlier, cell, 1) + 1 === threshold) {
          this.#env.reportOutlier(backend, "connect-failure");
        }
        if (!this.#redispatched) {
          this.#redispatched = true;
          stats.add(backend.statsBase + BACKEND.RETRIES, 1);
          this.#connect(backend);
          return;
        }
      }
    }
    this.#client.destroy();
  };

  #onClientClose = (): void => {
    if (this.#closed) return;
    this.#closed = true;
    this.#upstream?.destroy();
    const pool = this.#pool;
    if (pool !== undefined) {
      this.#env.stats.add(pool.statsBase + POOL.CLIENT_CONNECTIONS, -1);
      this.#env.stats.add(pool.statsBase + POOL.IN_FLIGHT, -1);
    }
    this.#env.remove(this);
  };

  sweep(now: number): void {
    // Only the connect has a deadline: an established tunnel may stay quiet as long as both ends like.
    if (now >= this.#deadline && !this.#connected) this.#upstream?.destroy();
  }

  drain(): void {
    // A tunnel's end is up to its two parties; the drain timeout bounds the wait.
  }
}

function noop(): void {}

/**
 * Passes a read of `from` on to `to`. A read that filled the read buffer is most likely one of many
 * (a bulk transfer): the reads after it are lent, written on uncopied, until a shorter one. Small
 * exchanges never fill it, and keep the copy and the write at the turn's end.
 */
function relay(from: RawStream, to: RawStream, data: Buffer): boolean {
  const ok = from.lendReads ? to.writeLent(data, from) : to.write(data);
  from.lendReads = data.length === READ_BYTES;
  return ok;
}
