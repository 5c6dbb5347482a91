// A worker's own copy of one pool: the backends it may route to, their connection pools, and the
// picker built from the latest snapshot. Rebuilt on every snapshot; connections survive rebuilds.

import type { HashKey, UpstreamOptions } from "../config.ts";
import { createPicker, type Candidate, type Picker } from "../balancing/index.ts";
import type { PoolSnapshot } from "../messages.ts";
import { BACKEND } from "../stats/layout.ts";
import { UpstreamPool, type UpstreamUser } from "../http/upstream-pool.ts";
import type { StatsWriter } from "./stats-writer.ts";

export class BackendRuntime implements Candidate {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  readonly pool: PoolRuntime;
  weight = 1;
  warmUntil = 0;
  warmupMs = 0;
  active = 0;
  slot = -1;
  /** Offset of its record in this worker's statistics region. */
  statsBase = 0;
  routable = true;
  readonly connections: UpstreamPool;

  constructor(pool: PoolRuntime, id: string, address: string, port: number, upstream: UpstreamOptions, stats: StatsWriter) {
    this.pool = pool;
    this.id = id;
    this.address = address;
    this.port = port;
    this.connections = new UpstreamPool(address, port, upstream, (delta, connected) => {
      stats.add(this.statsBase + BACKEND.CONNECTIONS, delta);
      if (connected) stats.add(this.statsBase + BACKEND.CONNECTIONS_TOTAL, 1);
    });
  }

  /** Nothing of this worker still uses the backend. */
  get idle(): boolean {
    return this.active === 0 && this.connections.openConnections === 0;
  }
}

export class PoolRuntime {
  readonly name: string;
  slot = -1;
  statsBase = 0;
  hashKey: HashKey = { kind: "client-address" };
  /** Lower-case name of the header to hash on, "" when hashing on the client address. */
  hashHeader = "";
  upstream!: UpstreamOptions;
  consecutive5xx = 0;
  consecutiveConnectFailures = 0;
  readonly backends = new Map<string, BackendRuntime>();
  picker!: Picker<BackendRuntime>;
  /** Over the standby backups: used only after a primary refused a connection. */
  standby: Picker<BackendRuntime> | null = null;
  /** Requests waiting for the pool's first routable backend (UpstreamOptions.emptyPoolHold). */
  readonly #held = new Set<UpstreamUser>();
  readonly #stats: StatsWriter;

  constructor(name: string, stats: StatsWriter) {
    this.name = name;
    this.#stats = stats;
  }

  /**
   * Applies a snapshot. Returns the requests that were queued for backends that are no longer
   * routable, so the caller can send them elsewhere.
   */
  apply(snapshot: PoolSnapshot): UpstreamUser[] {
    this.slot = snapshot.slot;
    this.statsBase = this.#stats.poolBase(snapshot.slot);
    this.hashKey = snapshot.hashKey;
    this.hashHeader = snapshot.hashKey.kind === "header" ? snapshot.hashKey.name : "";
    this.upstream = snapshot.upstream;
    this.consecutive5xx = snapshot.consecutive5xx;
    this.consecutiveConnectFailures = snapshot.consecutiveConnectFailures;
    const routable: BackendRuntime[] = [];
    const standby: BackendRuntime[] = [];
    const seen = new Set<string>();
    for (const b of [...snapshot.routable, ...snapshot.standby]) {
      let backend = this.backends.get(b.id);
      if (backend === undefined) {
        backend = new BackendRuntime(this, b.id, b.address, b.port, snapshot.upstream, this.#stats);
        this.backends.set(b.id, backend);
      }
      backend.weight = b.weight;
      backend.warmUntil = b.warmUntil;
      backend.warmupMs = snapshot.slowStartMs;
      backend.slot = b.slot;
      backend.statsBase = this.#stats.backendBase(b.slot);
      backend.routable = true;
      backend.connections.options = snapshot.upstream;
      backend.connections.reactivate();
      (routable.length < snapshot.routable.length ? routable : standby).push(backend);
      seen.add(b.id);
    }
    const orphans: UpstreamUser[] = [];
    for (const [id, backend] of this.backends) {
      if (seen.has(id)) continue;
      backend.routable = false;
      orphans.push(...backend.connections.retire());
      if (backend.idle) this.backends.delete(id);
    }
    this.picker = createPicker(snapshot.policy, routable, snapshot.hashKey);
    this.standby = standby.length === 0 ? null : createPicker(snapshot.policy, standby, snapshot.hashKey);
    // Held requests go out as soon as there is somewhere to send them, or when holding was turned off.
    if (this.#held.size > 0 && (routable.length > 0 || snapshot.upstream.emptyPoolHold === 0)) {
      orphans.push(...this.#held);
      this.#held.clear();
    }
    return orphans;
  }

  /** Holds `user` until a backend becomes routable; false when the pool holds all it may. */
  hold(user: UpstreamUser): boolean {
    if (this.#held.size >= this.upstream.emptyPoolHold) return false;
    this.#held.add(user);
    return true;
  }

  release(user: UpstreamUser): void {
    this.#held.delete(user);
  }

  /** Forgets retired backends whose last request and connection are gone. */
  collect(): void {
    for (const [id, backend] of this.backends) {
      if (!backend.routable && backend.idle) this.backends.delete(id);
    }
  }
}
