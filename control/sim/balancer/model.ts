// One boot of a simulated balancer VM: the pools it started with (its settings) and what the admin
// API has done to them since, its health checker and outlier detection. A balancer's state lasts one
// boot, as the real one's memory does: a restarted balancer VM starts from its settings again (and
// the controller gives it its current pools).
//
// Its processes, all on the kernel: one health check per backend whose guest changed, until the
// backend is stable again; one timer per connection-failure streak that would eject a backend (a
// dead backend that still takes requests), and one per pool for the end of its earliest ejection.

import type { BackendSpec, HealthCheckOptions, OutlierDetectionOptions } from "../../../native-free-core/config.ts";
import type { BalancerSettings } from "../../images/balancer/settings.ts";
import type { GuestState } from "../guest.ts";
import type { Kernel } from "../kernel.ts";
import type { SimDriver, SimVmView } from "../driver.ts";
import { checkTakes, isStable, nextCheckAt, recordCheck } from "./health.ts";
import { SimPool, type SimBackend } from "./pool.ts";

export interface SimBalancerOptions {
  readonly healthCheck: HealthCheckOptions;
  readonly outlierDetection: OutlierDetectionOptions;
  readonly slowStartMs: number;
  readonly serviceMs: number;
  /** Requests per second reaching the balancer named `balancer` at `t`. */
  readonly demand: (balancer: string, t: number) => number;
}

/** First checks of new backends are spread over up to this long (and a tenth of the interval), as the checker does. */
const MAX_FIRST_CHECK_STAGGER_MS = 250;

export class SimBalancer {
  readonly host: string;
  /** The balancer VM's name in the farm. */
  readonly name: string;
  readonly boot: number;
  readonly pools = new Map<string, SimPool>();
  readonly #kernel: Kernel;
  readonly #driver: SimDriver;
  readonly #options: SimBalancerOptions;
  /** Backends with a streak of failed requests under way, by pool and id. */
  readonly #streaks = new Set<string>();
  /** Pools with a timer set for the end of their earliest ejection. */
  readonly #releases = new Map<string, number>();
  #closed = false;

  readonly #membership: (balancer: SimBalancer, host: string, joined: boolean) => void;

  constructor(
    kernel: Kernel,
    driver: SimDriver,
    vm: SimVmView,
    settings: BalancerSettings,
    options: SimBalancerOptions,
    epoch: { value: number },
    membership: (balancer: SimBalancer, host: string, joined: boolean) => void,
  ) {
    this.#membership = membership;
    this.#kernel = kernel;
    this.#driver = driver;
    this.#options = options;
    this.host = vm.host;
    this.name = vm.spec.labels.vm;
    this.boot = vm.boots;
    for (const p of settings.pools) {
      const pool = new SimPool(p.name, {
        policy: settings.policy,
        healthCheck: options.healthCheck,
        outlierDetection: options.outlierDetection,
        slowStartMs: options.slowStartMs,
        serviceMs: options.serviceMs,
      }, epoch, (host, joined) => membership(this, host, joined));
      this.pools.set(p.name, pool);
      // The pools it boots with are active at once, not warming: there is no traffic to protect them from yet.
      // All at once: the outlier detector is told its backends once, not once per backend added.
      pool.replace(p.backends, kernel.now(), (id) => this.#stagger(id), () => 0);
      for (const b of pool.backends.values()) b.warmUntil = 0;
      this.#watch(pool, [...pool.backends.values()]);
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The boot is over (the VM stopped or was replaced): its processes stop at their next step. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const pool of this.pools.values()) for (const b of pool.backends.values()) this.#membership(this, b.address, false);
  }

  /** A guest somewhere changed: the backends it is are checked again, and a dead one may meet failing requests. */
  guestChanged(host: string): void {
    if (this.#closed) return;
    for (const [pool, b] of this.#at(host)) {
      this.#startChecking(pool, b);
      this.#reconsider(pool, b);
    }
  }

  /** Its own guest serves again after a hang: checks that stopped with it go on. */
  resumed(): void {
    for (const pool of this.pools.values()) this.#watch(pool, [...pool.backends.values()]);
  }

  // ---- the admin API's operations ---------------------------------------------------------------------

  replace(pool: SimPool, wanted: readonly BackendSpec[]): void {
    const now = this.#kernel.now();
    const joined = pool.replace(wanted, now, (id) => this.#stagger(id), (id) => this.inFlight(pool, id));
    this.#watch(pool, joined);
  }

  /** Drains a backend (and forgets it once drained, when `remove`). */
  drain(pool: SimPool, backend: SimBackend, remove: boolean): void {
    pool.drain(backend, remove, this.#kernel.now(), this.inFlight(pool, backend.id));
  }

  /** Requests in flight to a backend now: its share of rate x service time; what it had, while it drains. */
  inFlight(pool: SimPool, id: string): number {
    const now = this.#kernel.now();
    pool.settle(now);
    const b = pool.backends.get(id);
    if (b === undefined || b.lifecycle === "drained") return 0;
    if (b.lifecycle === "draining") return b.drainedAt > now ? b.drainingInFlight : 0;
    const share = pool.shares(now, (label) => this.#random(label)).get(id) ?? 0;
    return Math.round((this.#poolRate(pool, now) * share * this.#options.serviceMs) / 1000);
  }

  /** The balancer's state relative to now, for a state's fingerprint (`timed`: as SimPool.fingerprint). */
  fingerprint(timed = true): string {
    const now = this.#kernel.now();
    return [...this.pools.values()].map((p) => `${p.name}[${p.fingerprint(now, timed)}]`).join(";");
  }

  // ---- processes ----------------------------------------------------------------------------------------

  /** Health checks for these backends of the pool where not stable; dead routable ones meet failing requests. */
  #watch(pool: SimPool, backends: readonly SimBackend[]): void {
    for (const b of backends) {
      this.#startChecking(pool, b);
      this.#reconsider(pool, b);
    }
  }

  /** The backends at `host`, in every pool. */
  #at(host: string): [SimPool, SimBackend][] {
    const out: [SimPool, SimBackend][] = [];
    for (const pool of this.pools.values()) for (const b of pool.at(host)) out.push([pool, b]);
    return out;
  }

  #startChecking(pool: SimPool, b: SimBackend): void {
    if (b.health.checking || this.#closed || isStable(b.health, this.#guestOf(b) === "serving")) return;
    b.health.checking = true;
    this.#kernel.spawn(`health check ${this.name} ${b.id}`, async () => {
      try {
        await this.#checkUntilStable(pool, b);
      } finally {
        b.health.checking = false;
      }
    });
  }

  async #checkUntilStable(pool: SimPool, b: SimBackend): Promise<void> {
    const k = this.#kernel;
    const hc = this.#options.healthCheck;
    for (;;) {
      if (!this.#checks(pool, b) || isStable(b.health, this.#guestOf(b) === "serving")) return;
      await k.sleep(nextCheckAt(b.health, k.now(), hc) - k.now());
      if (!this.#checks(pool, b)) return;
      const guest = this.#guestOf(b);
      const takes = checkTakes(guest, hc);
      if (takes > 0) await k.sleep(takes);
      if (!this.#checks(pool, b)) return;
      const flipped = recordCheck(b.health, guest === "serving", hc);
      if (flipped === null) continue;
      if (flipped) pool.warm(b, k.now());
      else pool.changed();
    }
  }

  /** Whether the checker still checks `b`: this boot goes on, serves, and the backend is still in the pool. */
  #checks(pool: SimPool, b: SimBackend): boolean {
    return !this.#closed && pool.backends.get(b.id) === b && this.#driver.guestAt(this.host)?.guest === "serving";
  }

  /**
   * Requests meet a dead backend that is still routable: after the pool's consecutive connection
   * failures (at the rate it gets requests), the outlier detector is told, as a worker would tell it.
   */
  #reconsider(pool: SimPool, b: SimBackend): void {
    const k = this.#kernel;
    const threshold = this.#options.outlierDetection.consecutiveConnectFailures;
    const key = `${pool.name} ${b.id}`;
    if (this.#closed || threshold <= 0 || this.#streaks.has(key) || !this.#refuses(b) || !pool.isRoutable(b)) return;
    const perSecond = this.#poolRate(pool, k.now()) * (pool.shares(k.now(), (label) => this.#random(label)).get(b.id) ?? 0);
    if (perSecond <= 0) return;
    this.#streaks.add(key);
    const inMs = Math.max(1, Math.ceil((1000 * threshold) / perSecond));
    k.spawn(`connection failures ${this.name} ${b.id}`, async () => {
      await k.sleep(inMs);
      this.#streaks.delete(key);
      if (this.#closed || pool.backends.get(b.id) !== b || !this.#refuses(b) || !pool.isRoutable(b)) return;
      if (!pool.outlier.report(b.id, "connect-failure", k.now())) return;
      pool.changed();
      this.#scheduleRelease(pool);
    });
  }

  /** Ejections end on time: the backend is routable again (warming up), and may be ejected again. */
  #scheduleRelease(pool: SimPool): void {
    const k = this.#kernel;
    const next = pool.outlier.nextDeadline();
    if (next === Infinity || this.#releases.get(pool.name) === next) return;
    this.#releases.set(pool.name, next);
    k.spawn(`ejection ends ${this.name} ${pool.name}`, async () => {
      await k.sleep(Math.max(0, next - k.now()) + 1);
      if (this.#releases.get(pool.name) === next) this.#releases.delete(pool.name);
      if (this.#closed) return;
      const released = pool.outlier.tick(k.now()).flatMap((id) => pool.backends.get(id) ?? []);
      for (const b of released) pool.warm(b, k.now());
      pool.changed();
      this.#scheduleRelease(pool);
      // Released and still dead: requests meet it again.
      for (const b of released) this.#reconsider(pool, b);
    });
  }

  /** The requests a pool gets: the balancer's, split among the pools that have backends. */
  #poolRate(pool: SimPool, now: number): number {
    const used = [...this.pools.values()].filter((p) => p.backends.size > 0).length;
    return pool.backends.size === 0 || used === 0 ? 0 : this.#options.demand(this.name, now) / used;
  }

  /** Connections to it are refused: its guest is dead, or its VM is not running. */
  #refuses(b: SimBackend): boolean {
    const guest = this.#guestOf(b);
    return guest === null || guest === "dead";
  }

  #guestOf(b: SimBackend): GuestState | null {
    const vm = this.#driver.guestAt(b.address);
    return vm === null ? null : vm.guest;
  }

  #stagger(id: string): number {
    const max = Math.min(MAX_FIRST_CHECK_STAGGER_MS, Math.floor(Math.max(1, this.#options.healthCheck.intervalMs) / 10));
    return max > 0 ? Math.floor(this.#random(`stagger ${id}`)() * max) : 0;
  }

  #random(label: string): () => number {
    return this.#kernel.random.stream(`${this.host}#${this.boot} ${label}`);
  }
}
