// The simulated balancers of a world, and the admin port the reconciler reaches them by: each
// balancer VM's admin API, in memory, over the model of its current boot (model.ts). A balancer VM
// whose guest does not serve refuses (dead) or does not answer (hung), as a real one would.
//
// One kernel process watches the hypervisor's channel: a balancer VM that boots gets a fresh model,
// and every change of a guest reaches the health checkers of the balancers that have it as a backend.

import type { AdminPool, BalancerAdmin } from "../../../native-free-core/admin/client.ts";
import { DEFAULT_OUTLIER_DETECTION, type BackendSpec, type HealthCheckOptions, type OutlierDetectionOptions } from "../../../native-free-core/config.ts";
import { AdminCallError } from "../../../native-free-core/errors.ts";
import { formatHostPort, type HostPort } from "../../../native-free-core/net/address.ts";
import { isBalancerSettings, readBalancerSettings } from "../../images/balancer/settings.ts";
import type { BalancerAdminPort } from "../../reconcile/ports.ts";
import type { SimDriver } from "../driver.ts";
import type { Kernel } from "../kernel.ts";
import { SimBalancer, type SimBalancerOptions } from "./model.ts";
import { idOf, type SimPool } from "./pool.ts";

/**
 * How the balancer image checks and ejects its backends (control/images/balancer/main.ts starts the
 * data plane with these): checked every second, down after two failed checks, up after one pass;
 * ejected after two refused connections, for two seconds and more.
 */
export const BALANCER_IMAGE_HEALTH_CHECK: HealthCheckOptions = { path: "/.well-known/farmhand", intervalMs: 1000, timeoutMs: 800, rise: 1, fall: 2 };
export const BALANCER_IMAGE_OUTLIER_DETECTION: OutlierDetectionOptions = { ...DEFAULT_OUTLIER_DETECTION, consecutiveConnectFailures: 2, baseEjectionMs: 2000 };

export interface SimBalancersOptions {
  readonly healthCheck?: HealthCheckOptions;
  readonly outlierDetection?: OutlierDetectionOptions;
  /** Slow start of the pools (the balancer image sets none). Default 0. */
  readonly slowStartMs?: number;
  /** How long a request takes to serve. Default 50 ms. */
  readonly serviceMs?: number;
  /** Requests per second reaching each balancer. Default: none. */
  readonly demand?: (balancer: string, t: number) => number;
}

export class SimBalancers {
  readonly #kernel: Kernel;
  readonly #driver: SimDriver;
  readonly #options: SimBalancerOptions;
  readonly #byHost = new Map<string, SimBalancer>();
  /** Bumped whenever an admin call changes a pool. */
  #version = 0;
  readonly #epoch = { value: 0 };
  /** The balancers (current boots) with a backend at each address, and in how many pools. */
  readonly #balancing = new Map<string, Map<SimBalancer, number>>();

  constructor(kernel: Kernel, driver: SimDriver, options: SimBalancersOptions = {}) {
    this.#kernel = kernel;
    this.#driver = driver;
    this.#options = {
      healthCheck: options.healthCheck ?? BALANCER_IMAGE_HEALTH_CHECK,
      outlierDetection: options.outlierDetection ?? BALANCER_IMAGE_OUTLIER_DETECTION,
      slowStartMs: options.slowStartMs ?? 0,
      serviceMs: options.serviceMs ?? 50,
      demand: options.demand ?? (() => 0),
    };
    const changes = driver.watchGuests("guest changes -> balancers");
    kernel.spawn("balancers: watch the hypervisor", async () => {
      for await (const change of changes) {
        const own = this.#byHost.get(change.host);
        if (change.guest === "serving") {
          if (own === undefined || own.boot !== this.#driver.guestAt(change.host)?.boots) this.#boot(change.host);
          else own.resumed();
        } else if (change.guest === "dead") {
          // A balancer whose process is gone checks and ejects nothing more; its next boot starts afresh.
          own?.close();
        }
        for (const b of this.balancersOf(change.host)) if (b.host !== change.host) b.guestChanged(change.host);
      }
    });
  }

  /** The admin port of the reconciler: a client of the simulated balancer at `address`. */
  readonly port: BalancerAdminPort = (address, _token) => this.#client(address);

  /** The backends a balancer's pool holds as active ("host:port"): what the controller set. */
  active(host: string, pool = "main"): string[] {
    return [...(this.#serving(host, "look at").pools.get(pool)?.backends.values() ?? [])].filter((b) => b.lifecycle === "active").map((b) => b.id);
  }

  /** The backends a balancer routes to now: active, healthy, not ejected. */
  routable(host: string, pool = "main"): string[] {
    return (this.#serving(host, "look at").pools.get(pool)?.routable() ?? []).map((b) => b.id);
  }

  /** The balancers (current boots) that have a backend at `host`. */
  balancersOf(host: string): SimBalancer[] {
    const found = this.#balancing.get(host);
    return found === undefined ? [] : [...found.keys()];
  }

  /** The models of the balancer VMs booted and not gone, by host. */
  live(): SimBalancer[] {
    return [...this.#byHost.values()].filter((b) => !b.closed && this.#driver.guestAt(b.host)?.boots === b.boot);
  }

  /** Changes whenever an admin call, a health check or an ejection changed a pool, or a balancer booted. */
  get version(): number {
    return this.#version + this.#epoch.value;
  }

  #boot(host: string): SimBalancer | null {
    const vm = this.#driver.guestAt(host);
    if (vm === null || !isBalancerSettings(vm.spec.settings)) return null;
    this.#byHost.get(host)?.close();
    const model = new SimBalancer(this.#kernel, this.#driver, vm, readBalancerSettings(vm.spec.settings), this.#options, this.#epoch, (b, backend, joined) => {
      let here = this.#balancing.get(backend);
      if (here === undefined) this.#balancing.set(backend, (here = new Map()));
      const n = (here.get(b) ?? 0) + (joined ? 1 : -1);
      if (n > 0) here.set(b, n);
      else here.delete(b);
      if (here.size === 0) this.#balancing.delete(backend);
    });
    this.#byHost.set(host, model);
    this.#version++;
    return model;
  }

  /** The model of the balancer serving at `host`, or the error its admin API would give. */
  #serving(host: string, what: string): SimBalancer {
    const vm = this.#driver.guestAt(host);
    if (vm === null || vm.guest === "dead") throw new AdminCallError(`${what} ${host}`, 0, null, "connect ECONNREFUSED (simulated)");
    if (vm.guest === "hung") throw new AdminCallError(`${what} ${host}`, 0, null, "Headers Timeout Error (simulated)");
    const model = this.#byHost.get(host);
    if (model !== undefined && model.boot === vm.boots && !model.closed) return model;
    const booted = this.#boot(host);
    if (booted === null) throw new AdminCallError(`${what} ${host}`, 404, null, "not a balancer (simulated)");
    return booted;
  }

  #client(address: HostPort): BalancerAdmin {
    const at = (what: string) => this.#serving(address.host, `${what} ${formatHostPort(address)}`);
    const pool = (what: string, name: string): { balancer: SimBalancer; pool: SimPool } => {
      const balancer = at(what);
      const p = balancer.pools.get(name);
      if (p === undefined) throw new AdminCallError(`${what} pool ${name}`, 404, "FARMHAND_UNKNOWN_POOL", `no pool named ${JSON.stringify(name)}`);
      return { balancer, pool: p };
    };
    const backend = (what: string, name: string, id: string) => {
      const found = pool(what, name);
      const b = found.pool.backends.get(id);
      if (b === undefined) throw new AdminCallError(`${what} pool ${name} backend ${id}`, 404, "FARMHAND_UNKNOWN_BACKEND", `no backend ${id}`);
      return { ...found, backend: b };
    };
    const view = (balancer: SimBalancer, p: SimPool): AdminPool => {
      p.settle(this.#kernel.now());
      return p.view(this.#kernel.now(), (id) => balancer.inFlight(p, id));
    };
    const change = (balancer: SimBalancer, p: SimPool, wanted: readonly BackendSpec[]): AdminPool => {
      this.#version++;
      balancer.replace(p, wanted);
      return view(balancer, p);
    };
    const specs = (p: SimPool): BackendSpec[] => [...p.backends.values()].filter((b) => b.lifecycle === "active").map((b) => ({ address: b.address, port: b.port, weight: b.weight, backup: b.backup }));
    return {
      health: async () => void at("GET /healthz"),
      pools: async () => {
        const b = at("GET /pools");
        return [...b.pools.values()].map((p) => view(b, p));
      },
      pool: async (name) => {
        const found = pool("GET", name);
        return view(found.balancer, found.pool);
      },
      replaceBackends: async (name, wanted) => {
        const found = pool("PUT", name);
        return change(found.balancer, found.pool, wanted);
      },
      addBackend: async (name, b) => {
        const found = pool("POST", name);
        return change(found.balancer, found.pool, [...specs(found.pool).filter((s) => idOf(s) !== idOf(b)), b]);
      },
      removeBackend: async (name, id) => {
        const found = pool("DELETE", name);
        const b = found.pool.backends.get(id);
        if (b === undefined) return null;
        this.#version++;
        found.balancer.drain(found.pool, b, true);
        return view(found.balancer, found.pool);
      },
      drainBackend: async (name, id) => {
        const found = backend("POST drain", name, id);
        this.#version++;
        found.balancer.drain(found.pool, found.backend, false);
        return view(found.balancer, found.pool);
      },
      setWeight: async (name, id, weight) => {
        const found = backend("PATCH", name, id);
        this.#version++;
        found.backend.weight = weight;
        found.pool.changed();
        return view(found.balancer, found.pool);
      },
      workers: async () => [{ index: 0, threadId: 0, restarts: 0, serving: true }],
      metrics: async () => "",
    };
  }
}
