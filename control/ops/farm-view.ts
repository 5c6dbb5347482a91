// The farm as an operator sees it: what `farmhand status` prints and the dashboard draws. It joins
// what the driver knows of each VM (state, process or VMID and node, uptime, log, why it last ended),
// what each VM and balancer says of itself (FarmStatus, through the same ports the reconciler uses),
// each balancer's traffic from its metrics (rates between this look and the one before), the
// controller's record and the farm's journal. An observer keeps the last scrape of every balancer,
// so looking again gives rates over the time between.

import { adminClient, type BalancerAdmin } from "../../native-free-core/admin/client.ts";
import type { Driver, VmRecord } from "../drivers/driver.ts";
import type { FarmStatus } from "../reconcile/observe.ts";
import { controllerAlive, readControllerRecord, readFarmRecord, type AutoscaleState } from "../state/farm-records.ts";
import type { FarmSecrets } from "../state/secrets.ts";
import { readDashboardRecord } from "../dashboard/link.ts";
import { readJournal, type JournalEntry } from "./journal.ts";
import { parseExposition } from "../metrics/exposition.ts";
import { balancerTraffic, type BackendTraffic, type PoolTraffic, type Scrape } from "./traffic.ts";

/** healthy: runs and answers; unhealthy: runs but does not answer as itself; failed: ended unasked. */
export type Health = "healthy" | "unhealthy" | "starting" | "stopped" | "failed" | "damaged";

export interface VmView {
  readonly name: string;
  readonly role: string;
  /** The driver's id: a process key (local), the VMID (Proxmox). */
  readonly id: string;
  readonly state: string;
  readonly health: Health;
  readonly address: string | null;
  /** Endpoint name -> contract id as the VM announces them, or why it could not be asked. */
  readonly provides: Readonly<Record<string, string>> | string;
  readonly pid: number | null;
  readonly node: string | null;
  /** When it last started (ISO), while it runs. */
  readonly startedAt: string | null;
  readonly uptimeSeconds: number | null;
  readonly log: string | null;
  /** Why it last ended unasked (the driver's words), or what is wrong with its record. */
  readonly reason: string | null;
  /** Summed over the balancer pools it is a backend of; null when it is in none. */
  readonly traffic: { readonly requestsPerSecond: number | null; readonly errorsPerSecond: number | null; readonly inFlight: number } | null;
}

export interface BackendView {
  readonly id: string;
  /** The farm's VM at that address, if any. */
  readonly vm: string | null;
  readonly healthy: boolean;
  readonly routable: boolean;
  readonly lifecycle: string;
  readonly inFlight: number;
  readonly traffic: BackendTraffic | null;
}

export interface PoolView {
  readonly name: string;
  /** Backends that take new requests now. */
  readonly members: number;
  readonly traffic: PoolTraffic | null;
  readonly backends: readonly BackendView[];
}

export interface BalancerView {
  readonly name: string;
  readonly contract: string;
  /** Its admin API; null while it does not run. */
  readonly admin: string | null;
  /** Its Prometheus endpoint (the admin token is needed for both). */
  readonly metrics: string | null;
  readonly pools: readonly PoolView[];
  /** Why its pools or metrics could not be read. */
  readonly error: string | null;
}

export interface ControllerView {
  readonly running: boolean;
  readonly pid: number | null;
  readonly startedAt: string | null;
  readonly state: string;
  /** What its deployment did, or why it failed. */
  readonly summary: string | null;
  /** Each autoscaled group as its last decision left it. */
  readonly autoscale: readonly AutoscaleState[];
  /** Where autoscaling reads demand; null before the controller chose. */
  readonly demandSource: string | null;
}

export interface FarmView {
  readonly farm: string;
  /** ISO time of this look. */
  readonly at: string;
  readonly driver: string;
  readonly script: string | null;
  readonly controller: ControllerView | null;
  /** The dashboard's address (without its token) while a controller serves it. */
  readonly dashboard: string | null;
  readonly vms: readonly VmView[];
  readonly balancers: readonly BalancerView[];
  /** The journal's last entries, oldest first. */
  readonly events: readonly JournalEntry[];
}

export interface FarmObserverOptions {
  readonly name: string;
  readonly driver: Driver;
  /** What the VMs and balancers say of themselves (FarmHandle.status). */
  readonly status: () => Promise<FarmStatus>;
  readonly secrets: FarmSecrets;
  /** The farmhand home: the controller's record, the dashboard's, the journal. */
  readonly home?: string;
  /** How many journal entries a view carries. Default 20. */
  readonly events?: number;
  /** Default: the typed admin client. */
  readonly admin?: (url: string, token: string) => BalancerAdmin;
}

export class FarmObserver {
  readonly #options: FarmObserverOptions;
  /** Balancer name -> its last scrape. */
  readonly #scrapes = new Map<string, Scrape>();

  constructor(options: FarmObserverOptions) {
    this.#options = options;
  }

  async view(): Promise<FarmView> {
    const { name, driver, home } = this.#options;
    const [records, status] = await Promise.all([driver.list({ farm: name }), this.#options.status()]);
    const vmAt = new Map(status.vms.filter((v) => v.address !== null).map((v) => [v.address!, v.name]));
    const balancers = await Promise.all(status.balancers.map((b) => this.#balancer(b, vmAt)));
    const byAddress = new Map<string, BackendView[]>();
    for (const b of balancers) for (const p of b.pools) for (const x of p.backends) byAddress.set(x.id, [...(byAddress.get(x.id) ?? []), x]);
    const recordOf = new Map(records.map((r) => [r.id, r]));
    const now = Date.now();
    const vms = status.vms.map((vm) => vmView(vm, recordOf.get(vm.id), byAddress, now)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const farmRecord = home === undefined ? null : readFarmRecord(name, home);
    const controller = home === undefined ? null : readControllerRecord(name, home);
    return {
      farm: name,
      at: new Date(now).toISOString(),
      driver: driver.name,
      script: farmRecord?.script ?? null,
      controller: controller === null ? null : {
        running: controllerAlive(controller),
        pid: controller.pid,
        startedAt: controller.startedAt,
        state: controllerAlive(controller) ? controller.state : "stopped",
        summary: controller.summary,
        autoscale: controller.autoscale ?? [],
        demandSource: controller.demandSource ?? null,
      },
      dashboard: home === undefined ? null : readDashboardRecord(name, home)?.url ?? null,
      vms,
      balancers,
      events: home === undefined ? [] : readJournal(name, this.#options.events ?? 20, home),
    };
  }

  async #balancer(b: FarmStatus["balancers"][number], vmAt: ReadonlyMap<string, string>): Promise<BalancerView> {
    const base = { name: b.name, contract: b.contract, admin: b.admin, metrics: b.admin === null ? null : `${b.admin}/metrics` };
    let traffic: ReturnType<typeof balancerTraffic> | null = null;
    let error = b.error;
    if (b.admin !== null && b.error === null) {
      const admin = (this.#options.admin ?? ((url, token) => adminClient(url, { token, timeoutMs: 2_000 })))(b.admin, this.#options.secrets.adminToken(b.name));
      try {
        const scrape: Scrape = { at: Date.now(), samples: parseExposition(await admin.metrics()) };
        traffic = balancerTraffic(scrape, this.#scrapes.get(b.name) ?? null);
        this.#scrapes.set(b.name, scrape);
      } catch (e) {
        error = `metrics: ${(e as Error).message}`;
      }
    }
    const poolNames = [...new Set(b.backends.map((x) => x.pool)), ...(traffic?.pools.map((p) => p.pool) ?? [])];
    const pools = [...new Set(poolNames)].map((pool): PoolView => {
      const backends = b.backends.filter((x) => x.pool === pool).map((x): BackendView => ({
        id: x.id,
        vm: vmAt.get(x.id) ?? null,
        healthy: x.healthy,
        routable: x.routable,
        lifecycle: x.lifecycle,
        inFlight: x.inFlight,
        traffic: traffic?.backends.find((t) => t.pool === pool && t.backend === x.id) ?? null,
      }));
      return { name: pool, members: backends.filter((x) => x.routable).length, traffic: traffic?.pools.find((p) => p.pool === pool) ?? null, backends };
    });
    return { ...base, pools, error };
  }
}

function vmView(vm: FarmStatus["vms"][number], record: VmRecord | undefined, byAddress: ReadonlyMap<string, BackendView[]>, now: number): VmView {
  const details = record?.details ?? {};
  const answers = typeof vm.provides !== "string";
  const health: Health =
    vm.state === "running" ? (answers ? "healthy" : "unhealthy")
    : vm.state === "starting" || vm.state === "created" ? "starting"
    : vm.state === "failed" ? "failed"
    : vm.state === "damaged" ? "damaged"
    : "stopped";
  const backends = vm.address === null ? [] : byAddress.get(vm.address) ?? [];
  const sum = (pick: (t: BackendTraffic) => number | null): number | null => {
    const values = backends.map((x) => (x.traffic === null ? null : pick(x.traffic)));
    return values.some((v) => v === null) ? null : values.reduce<number>((s, v) => s + v!, 0);
  };
  const running = vm.state === "running" || vm.state === "starting";
  return {
    name: vm.name,
    role: vm.role,
    id: vm.id,
    state: vm.state,
    health,
    address: vm.address,
    provides: vm.provides,
    pid: running ? details.pid ?? null : null,
    node: details.node ?? null,
    startedAt: running && details.startedAt !== undefined ? new Date(details.startedAt).toISOString() : null,
    uptimeSeconds: running && details.startedAt !== undefined ? Math.max(0, Math.round((now - details.startedAt) / 1000)) : null,
    log: details.log ?? null,
    reason: vm.problem ?? (health === "unhealthy" ? `does not answer GET /.well-known/farmhand: ${vm.provides as string}` : details.reason ?? null),
    traffic: backends.length === 0 ? null : {
      requestsPerSecond: sum((t) => t.requestsPerSecond),
      errorsPerSecond: sum((t) => t.errorsPerSecond),
      inFlight: backends.reduce((s, x) => s + x.inFlight, 0),
    },
  };
}
