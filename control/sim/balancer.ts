// Balancer VMs in simulation: the admin API of each, in memory, over the pools it booted with. Pool
// changes follow the data plane's rules where they are the farm's business: a backend removed from a
// pool drains and goes, one added is active at once.

import type { AdminPool, BalancerAdmin } from "../../native-free-core/admin/client.ts";
import { AdminCallError } from "../../native-free-core/errors.ts";
import type { BackendSpec } from "../../native-free-core/config.ts";
import { formatHostPort, type HostPort } from "../../native-free-core/net/address.ts";
import { readBalancerSettings } from "../images/balancer/settings.ts";
import type { BalancerAdminPort } from "../reconcile/ports.ts";
import type { SimDriver } from "./driver.ts";

interface Backend {
  readonly spec: Required<BackendSpec>;
  lifecycle: "active" | "draining" | "drained";
}

interface Pools {
  readonly boot: number;
  readonly pools: Map<string, Backend[]>;
}

export class SimBalancers {
  readonly #driver: SimDriver;
  readonly #state = new Map<string, Pools>();

  constructor(driver: SimDriver) {
    this.#driver = driver;
  }

  /** The admin port of the reconciler: a client of the simulated balancer at `address`. */
  readonly port: BalancerAdminPort = (address, _token) => this.#client(address);

  /** The active backends of a balancer's pool ("host:port"), as the simulation would route. */
  active(host: string, pool = "main"): string[] {
    return (this.#pools(host, "look at")?.pools.get(pool) ?? []).filter((b) => b.lifecycle === "active").map((b) => idOf(b.spec));
  }

  #pools(host: string, what: string): Pools {
    const guest = this.#driver.guestAt(host);
    if (guest === null || guest.guest !== "serving") throw new AdminCallError(`${what} ${host}`, 0, null, "connect ECONNREFUSED (simulated)");
    const settings = readBalancerSettings(guest.spec.settings);
    let state = this.#state.get(host);
    if (state === undefined || state.boot !== guest.boot) {
      state = { boot: guest.boot, pools: new Map(settings.pools.map((p) => [p.name, p.backends.map((b) => ({ spec: full(b), lifecycle: "active" as const }))])) };
      this.#state.set(host, state);
    }
    return state;
  }

  #client(address: HostPort): BalancerAdmin {
    const at = (what: string) => this.#pools(address.host, `${what} ${formatHostPort(address)}`);
    const pool = (what: string, name: string): Backend[] => {
      const p = at(what).pools.get(name);
      if (p === undefined) throw new AdminCallError(`${what} pool ${name}`, 404, "FARMHAND_UNKNOWN_POOL", `no pool named ${JSON.stringify(name)}`);
      return p;
    };
    const view = (name: string, backends: Backend[]): AdminPool => ({
      name,
      policy: "round-robin",
      backends: backends.map((b) => ({
        id: idOf(b.spec), address: b.spec.address, port: b.spec.port, weight: b.spec.weight, lifecycle: b.lifecycle,
        healthy: true, ejectedUntil: null, ejections: 0, warmUntil: null, routable: b.lifecycle === "active", backup: b.spec.backup, inFlight: 0,
      })),
    });
    const replace = (name: string, wanted: readonly BackendSpec[]): AdminPool => {
      const backends = pool("PUT", name);
      const ids = new Set(wanted.map(idOf));
      // In simulation a drain completes at once: no request is ever in flight between events.
      const kept = backends.filter((b) => ids.has(idOf(b.spec)));
      const next = wanted.map((w) => kept.find((b) => idOf(b.spec) === idOf(w)) ?? { spec: full(w), lifecycle: "active" as const });
      for (const b of next) {
        b.lifecycle = "active";
        Object.assign(b, { spec: full(wanted.find((w) => idOf(w) === idOf(b.spec))!) });
      }
      at("PUT").pools.set(name, next);
      return view(name, next);
    };
    return {
      health: async () => void at("GET /healthz"),
      pools: async () => [...at("GET /pools").pools].map(([name, backends]) => view(name, backends)),
      pool: async (name) => view(name, pool("GET", name)),
      replaceBackends: async (name, wanted) => replace(name, wanted),
      addBackend: async (name, b) => replace(name, [...pool("POST", name).map((x) => x.spec), b]),
      removeBackend: async (name, id) => {
        const backends = pool("DELETE", name);
        if (!backends.some((b) => idOf(b.spec) === id)) return null;
        return replace(name, backends.filter((b) => idOf(b.spec) !== id).map((b) => b.spec));
      },
      drainBackend: async (name, id) => {
        const backends = pool("POST drain", name);
        for (const b of backends) if (idOf(b.spec) === id) b.lifecycle = "drained";
        return view(name, backends);
      },
      setWeight: async (name, id, weight) => {
        const backends = pool("PATCH", name);
        for (const b of backends) if (idOf(b.spec) === id) Object.assign(b, { spec: { ...b.spec, weight } });
        return view(name, backends);
      },
      workers: async () => [{ index: 0, threadId: 0, restarts: 0 }],
      metrics: async () => "",
    };
  }
}

function full(b: BackendSpec): Required<BackendSpec> {
  return { address: b.address, port: b.port, weight: b.weight ?? 1, backup: b.backup ?? false };
}

function idOf(b: { readonly address: string; readonly port: number }): string {
  return formatHostPort({ host: b.address, port: b.port });
}
