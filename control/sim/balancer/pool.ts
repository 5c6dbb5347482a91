// One pool of a simulated balancer: its backends' lifecycle as the data plane's supervisor keeps it
// (native-free-core/supervisor.ts): a backend removed drains (no new requests; those in flight finish)
// and is forgotten once drained; one added, or added back while draining, is active and warms up
// (slow start); a backend takes traffic while it is active, healthy and not ejected, and backups only
// while no primary does. Ejection is the data plane's own OutlierDetector, fed with the connection
// failures that requests to a dead backend meet.

import type { AdminBackend, AdminPool } from "../../../native-free-core/admin/client.ts";
import type { BackendSpec, HealthCheckOptions, OutlierDetectionOptions, PolicyName } from "../../../native-free-core/config.ts";
import { OutlierDetector } from "../../../native-free-core/health/outlier-detector.ts";
import { formatHostPort } from "../../../native-free-core/net/address.ts";
import { newHealth, type HealthState } from "./health.ts";
import { sharesOf } from "./traffic.ts";

export interface PoolOptions {
  readonly policy: PolicyName;
  readonly healthCheck: HealthCheckOptions;
  readonly outlierDetection: OutlierDetectionOptions;
  readonly slowStartMs: number;
  /** How long a request takes to serve: in flight = rate x this (Little's law). */
  readonly serviceMs: number;
}

export interface SimBackend {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  weight: number;
  backup: boolean;
  lifecycle: "active" | "draining" | "drained";
  removeWhenDrained: boolean;
  /** When a draining backend's last request in flight ends, and how many it had when it began to drain. */
  drainedAt: number;
  drainingInFlight: number;
  warmUntil: number;
  readonly health: HealthState;
}

export class SimPool {
  readonly name: string;
  readonly options: PoolOptions;
  readonly backends = new Map<string, SimBackend>();
  readonly outlier: OutlierDetector;
  /** Changes whenever what is routable may have: shares are computed again after it. */
  #version = 0;
  /** Counts every change of every pool of the world: a checker skips a turn in which it stayed. */
  readonly #epoch: { value: number };
  #shares: { readonly version: number; readonly at: number; readonly shares: Map<string, number> } | null = null;
  #routable: { readonly version: number; readonly backends: readonly SimBackend[]; readonly ids: ReadonlySet<SimBackend> } | null = null;
  /** Backends by address: what a change of one VM's guest concerns. */
  readonly #byHost = new Map<string, Set<SimBackend>>();
  /** Backends draining, and when the first of them is drained (settle has nothing to do before). */
  #draining = 0;
  #nextDrainEnd = Infinity;

  /** Told when a backend at an address joins the pool or is forgotten (the world's index of who balances what). */
  readonly #membership: (host: string, joined: boolean) => void;

  constructor(name: string, options: PoolOptions, epoch: { value: number }, membership: (host: string, joined: boolean) => void) {
    this.name = name;
    this.options = options;
    this.#epoch = epoch;
    this.#membership = membership;
    this.outlier = new OutlierDetector(options.outlierDetection);
  }

  /**
   * Makes the pool these backends: the others drain and go, new ones (and ones drained back) warm up.
   * Returns the backends that joined or rejoined. `stagger` gives a new backend's first check delay.
   */
  replace(wanted: readonly BackendSpec[], now: number, stagger: (id: string) => number, inFlight: (id: string) => number): SimBackend[] {
    const specs = new Map(wanted.map((spec) => [idOf(spec), spec]));
    // What each leaving backend has in flight, taken before any drains: a drain changes the shares.
    const leaving = [...this.backends.values()].filter((b) => !specs.has(b.id)).map((b) => [b, b.lifecycle === "active" ? inFlight(b.id) : 0] as const);
    for (const [b, busy] of leaving) this.drain(b, true, now, busy);
    const joined: SimBackend[] = [];
    let added = false;
    for (const [id, spec] of specs) {
      const { backend, changed, isNew } = this.#add(id, spec, now, stagger);
      if (changed) joined.push(backend);
      added ||= isNew;
    }
    if (added) this.outlier.setBackends([...this.backends.keys()]);
    return joined;
  }

  /** Adds a backend, or takes one that drains back into service. `changed`: it was not active before. */
  add(spec: BackendSpec, now: number, stagger: (id: string) => number): { backend: SimBackend; changed: boolean } {
    const found = this.#add(idOf(spec), spec, now, stagger);
    if (found.isNew) this.outlier.setBackends([...this.backends.keys()]);
    return found;
  }

  #add(id: string, spec: BackendSpec, now: number, stagger: (id: string) => number): { backend: SimBackend; changed: boolean; isNew: boolean } {
    const existing = this.backends.get(id);
    if (existing !== undefined) {
      const weight = spec.weight ?? 1;
      const backup = spec.backup ?? false;
      if (existing.weight !== weight || existing.backup !== backup) this.changed();
      existing.weight = weight;
      existing.backup = backup;
      if (existing.lifecycle === "active") return { backend: existing, changed: false, isNew: false };
      existing.lifecycle = "active";
      existing.removeWhenDrained = false;
      this.changed();
      this.#warm(existing, now);
      return { backend: existing, changed: true, isNew: false };
    }
    const backend: SimBackend = {
      id, address: spec.address, port: spec.port, weight: spec.weight ?? 1, backup: spec.backup ?? false,
      lifecycle: "active", removeWhenDrained: false, drainedAt: 0, drainingInFlight: 0, warmUntil: 0, health: newHealth(now, stagger(id)),
    };
    this.#warm(backend, now);
    this.backends.set(id, backend);
    let here = this.#byHost.get(backend.address);
    if (here === undefined) this.#byHost.set(backend.address, (here = new Set()));
    here.add(backend);
    this.#membership(backend.address, true);
    this.changed();
    return { backend, changed: true, isNew: true };
  }

  /** Stops new requests to it; it is drained once what it has in flight has been served. */
  drain(backend: SimBackend, remove: boolean, now: number, inFlight: number): void {
    backend.removeWhenDrained ||= remove;
    if (backend.lifecycle === "active") {
      backend.lifecycle = "draining";
      this.#draining++;
      backend.drainedAt = now + (inFlight > 0 ? this.options.serviceMs : 0);
      backend.drainingInFlight = inFlight;
      this.#nextDrainEnd = Math.min(this.#nextDrainEnd, backend.drainedAt);
      this.changed();
    }
    this.settle(now);
  }

  /** Finishes the drains that are done by `now`, forgetting what was removed. */
  settle(now: number): void {
    if (this.#draining === 0 || now < this.#nextDrainEnd) return;
    let forgot = false;
    let draining = 0;
    for (const b of [...this.backends.values()]) {
      if (b.lifecycle === "draining" && b.drainedAt <= now) {
        b.lifecycle = "drained";
        this.changed();
      }
      if (b.lifecycle === "drained" && b.removeWhenDrained) {
        this.backends.delete(b.id);
        this.#byHost.get(b.address)?.delete(b);
        this.#membership(b.address, false);
        forgot = true;
      } else if (b.lifecycle === "draining") {
        draining++;
      }
    }
    this.#draining = draining;
    this.#nextDrainEnd = Math.min(Infinity, ...[...this.backends.values()].filter((b) => b.lifecycle === "draining").map((b) => b.drainedAt));
    if (forgot) this.outlier.setBackends([...this.backends.keys()]);
  }

  /** The backends at an address. */
  at(host: string): Iterable<SimBackend> {
    return this.#byHost.get(host) ?? [];
  }

  get version(): number {
    return this.#version;
  }

  /** Something that decides what is routable changed. */
  changed(): void {
    this.#version++;
    this.#epoch.value++;
  }

  /** What takes traffic now: active, healthy, not ejected; the backups only while no primary does. */
  routable(): readonly SimBackend[] {
    if (this.#routable?.version === this.version) return this.#routable.backends;
    const up = [...this.backends.values()].filter((b) => b.lifecycle === "active" && b.health.healthy && !this.outlier.isEjected(b.id));
    const primaries = up.filter((b) => !b.backup);
    const backends = primaries.length > 0 ? primaries : up;
    this.#routable = { version: this.version, backends, ids: new Set(backends) };
    return backends;
  }

  isRoutable(b: SimBackend): boolean {
    this.routable();
    return this.#routable!.ids.has(b);
  }

  /** Each routable backend's share of the requests, by the pool's picker (`random` seeds it). */
  shares(now: number, random: (label: string) => () => number): Map<string, number> {
    const routable = this.routable();
    const warming = routable.some((b) => b.warmUntil > now);
    const cached = this.#shares;
    if (cached !== null && cached.version === this.version && (!warming || cached.at === now)) return cached.shares;
    const shares = sharesOf(this.options.policy, routable, this.options.slowStartMs, now, random(`picks ${this.name} v${this.version} @${warming ? now : 0}`));
    this.#shares = { version: this.version, at: now, shares };
    return shares;
  }

  /** Starts the warm-up of a backend that (re)joins, as the supervisor does. */
  warm(backend: SimBackend, now: number): void {
    this.changed();
    this.#warm(backend, now);
  }

  #warm(backend: SimBackend, now: number): void {
    if (this.options.slowStartMs > 0) backend.warmUntil = now + this.options.slowStartMs;
  }

  /** The pool as the admin API shows it; in flight is worked out only if read. */
  view(now: number, inFlight: (id: string) => number): AdminPool {
    return {
      name: this.name,
      policy: this.options.policy,
      backends: [...this.backends.values()].map((b) => new BackendView(b, this, now, inFlight)),
    };
  }

  /**
   * The pool's state, relative to `now`, for a state's fingerprint. `timed` false leaves out how long
   * each wait has to run (a drain, an ejection, a warm-up, the phase of the checks), keeping only
   * that it runs: what a step of the explorer compares (fingerprint.ts).
   */
  fingerprint(now: number, timed = true): string {
    const rel = timed ? (t: number) => (t > now ? t - now : 0) : (t: number) => (t > now ? 1 : 0);
    const out: string[] = [];
    for (const b of this.backends.values()) {
      // As settle(now) would leave it, without settling: looking at a run must not change it (a
      // settle bumps the version that seeds the picker's samples), or a replay, which does not
      // look, would part from the run that found it.
      const lifecycle = b.lifecycle === "draining" && b.drainedAt <= now ? "drained" : b.lifecycle;
      if (lifecycle === "drained" && b.removeWhenDrained) continue;
      const h = b.health;
      out.push(`${b.id}:${b.weight}${b.backup ? "b" : ""}:${lifecycle}${lifecycle === "draining" ? rel(b.drainedAt) : ""}:` +
        `${h.healthy ? "up" : "down"}${h.passes}/${h.failures}${timed ? `@${phaseOf(h.phase - now, this.options.healthCheck.intervalMs)}` : ""}:` +
        `e${rel(this.outlier.ejectedUntil(b.id))}x${this.outlier.ejectionCount(b.id)}:w${rel(b.warmUntil)}`);
    }
    return out.join(",");
  }
}

/**
 * One backend as the admin API shows it. In flight is a getter: it costs a sample of the pool's
 * picker, and the reconciler, which reads these views after every change, never asks for it.
 */
class BackendView implements AdminBackend {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly lifecycle: "active" | "draining" | "drained";
  readonly healthy: boolean;
  readonly ejectedUntil: number | null;
  readonly ejections: number;
  readonly warmUntil: number | null;
  readonly routable: boolean;
  readonly backup: boolean;
  readonly #inFlight: (id: string) => number;

  constructor(b: SimBackend, pool: SimPool, now: number, inFlight: (id: string) => number) {
    const until = pool.outlier.ejectedUntil(b.id);
    this.id = b.id;
    this.address = b.address;
    this.port = b.port;
    this.weight = b.weight;
    this.lifecycle = b.lifecycle;
    this.healthy = b.health.healthy;
    this.ejectedUntil = until > 0 ? until : null;
    this.ejections = pool.outlier.ejectionCount(b.id);
    this.warmUntil = b.warmUntil > now ? b.warmUntil : null;
    this.routable = pool.isRoutable(b);
    this.backup = b.backup;
    this.#inFlight = inFlight;
  }

  get inFlight(): number {
    return this.#inFlight(this.id);
  }
}

export function idOf(b: { readonly address: string; readonly port: number }): string {
  return formatHostPort({ host: b.address, port: b.port });
}

/** Where in its interval a periodic check stands, whatever interval it has passed. */
function phaseOf(offset: number, intervalMs: number): number {
  const interval = Math.max(1, intervalMs);
  return ((offset % interval) + interval) % interval;
}
