// The Farm over a Driver: the combinators' implementation. Reconciliation is level-triggered: every
// VM carries the labels {farm, role, vm}, and before creating one the farm asks the driver what
// already exists under those labels, so running a script twice adopts instead of duplicating, and a
// teardown from a fresh controller still finds everything. Intermediaries (balancers) are VMs too,
// running the balancer image, and are reconfigured through their admin API.

import { randomBytes } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { request } from "undici";
import { backendId } from "../../native-free-core/config.ts";
import { endpoint, role as defineRole, type AnyContract, type AnyEndpoint, type AnyRole, type Endpoint } from "../contracts/index.ts";
import { systemClock, type Clock, type Driver, type DriverEvent, type VmRecord, type VmSpec } from "../drivers/driver.ts";
import { BalancerCallError, GuardMismatchError, UnknownEndpointError, VmStartError } from "../errors.ts";
import { routeId, type BalanceOptions, type Farm, type FarmEvent, type PartContracts, type RoutedContract, type SameContract, type Vm } from "./farm.ts";

const BALANCER_IMAGE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../images/balancer");
/** A balancer VM serves its admin API on this port of its own address. */
const BALANCER_ADMIN_PORT = 9901;
const GUARD_TIMEOUT_MS = 5000;
const ADMIN_TIMEOUT_MS = 5000;

export interface FarmOptions {
  /** Labels every VM, so a later controller finds them (default "default"). */
  readonly name?: string;
  readonly clock?: Clock;
  /** Replacement of failed VMs backs off from this delay, doubling per repeated failure of a role. */
  readonly healBaseDelayMs?: number;
  readonly healMaxDelayMs?: number;
}

interface TrackedVm {
  record: VmRecord;
  readonly name: string;
  readonly role: AnyRole;
  imports: Record<string, string>;
  healed: boolean;
  /** Set while the farm itself restarts it (heal, rewire): a failure that causes is not a new one. */
  recovering: boolean;
  readonly vm: Vm<AnyRole>;
}

interface TrackedBalancer {
  readonly name: string;
  adminUrl: string;
  readonly token: string;
  /** Backend URLs (http://host:port) now in its main pool, kept equal to the live members. */
  readonly members: Set<string>;
  /** Members that serve only while no other is routable (a failover's backup). */
  readonly backups: ReadonlySet<string>;
  /**
   * A router's parts: pool name -> the one backend URL that pool holds. A router's main pool stays
   * empty, so a balancer with parts has no members.
   */
  readonly parts: Map<string, string>;
}

/** A farm as its controller sees it: the combinators, and what a deployment command needs besides. */
export interface FarmHandle extends Farm {
  /** What the driver and the balancers themselves report: works from a controller that made none of it. */
  status(): Promise<FarmStatus>;
  /**
   * Removes every VM labelled with this farm that this controller neither made nor adopted: after a
   * script has run, what it no longer asks for (a replica fewer, a role gone). Returns their names.
   */
  prune(): Promise<string[]>;
}

export async function openFarm(driver: Driver, options: FarmOptions = {}): Promise<FarmHandle> {
  return new FarmController(driver, options);
}

export interface FarmStatus {
  readonly vms: readonly {
    readonly name: string;
    readonly role: string;
    readonly state: string;
    readonly address: string | null;
    /** Endpoint name -> contract id, as the VM itself announces them; a string when it could not be asked. */
    readonly provides: Readonly<Record<string, string>> | string;
  }[];
  readonly balancers: readonly BalancerStatus[];
}

export interface BalancerStatus {
  readonly name: string;
  readonly contract: string;
  /** Each backend as the balancer itself reports it; empty when it could not be asked. */
  readonly backends: readonly { readonly id: string; readonly pool: string; readonly routable: boolean; readonly healthy: boolean; readonly lifecycle: string; readonly inFlight: number }[];
  readonly error: string | null;
}

class FarmController implements FarmHandle {
  readonly name: string;
  readonly #driver: Driver;
  readonly #clock: Clock;
  readonly #healBase: number;
  readonly #healMax: number;
  readonly #vms = new Map<string, TrackedVm>();
  readonly #balancers = new Map<string, TrackedBalancer>();
  readonly #counters = new Map<string, number>();
  readonly #failures = new Map<string, { count: number; at: number }>();
  readonly #listeners = new Set<(event: FarmEvent) => void>();
  readonly #unsubscribe: () => void;
  #closed = false;

  constructor(driver: Driver, options: FarmOptions) {
    this.name = options.name ?? "default";
    this.#driver = driver;
    this.#clock = options.clock ?? systemClock;
    this.#healBase = options.healBaseDelayMs ?? 500;
    this.#healMax = options.healMaxDelayMs ?? 30_000;
    this.#unsubscribe = driver.events((event) => this.#onDriverEvent(event));
  }

  // ---- combinators --------------------------------------------------------------------------------

  async vm<R extends AnyRole>(role: R, imports: Record<string, AnyEndpoint> | object): Promise<Vm<R>> {
    const name = this.#nextName(role.name);
    return (await this.#ensureVm(name, role, importUrls(imports as Record<string, AnyEndpoint>))) as Vm<R>;
  }

  async replicate<R extends AnyRole>(n: number, role: R, imports: object): Promise<Vm<R>[]> {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`replicate: n must be a positive integer (got ${n})`);
    const names = Array.from({ length: n }, () => this.#nextName(role.name));
    const urls = importUrls(imports as Record<string, AnyEndpoint>);
    const settled = await Promise.allSettled(names.map((name) => this.#ensureVm(name, role, urls)));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed !== undefined) {
      // All or nothing: the replicas that did start are removed again.
      await Promise.all(names.map((name) => this.#removeVm(name)));
      throw failed.reason;
    }
    return settled.map((s) => (s as PromiseFulfilledResult<Vm<AnyRole>>).value as Vm<R>);
  }

  async balance<C extends AnyContract>(endpoints: SameContract<C>, options: BalanceOptions = {}): Promise<Endpoint<C>> {
    const list = endpoints as readonly Endpoint<C>[];
    if (list.length === 0) throw new RangeError("balance: at least one endpoint is required");
    const contract = list[0].contract;
    const name = options.name ?? this.#nextName(`${contract.name}-balancer`);
    const backends: Record<string, string> = {};
    list.forEach((e, i) => (backends[`backend-${i}`] = e.url));
    const settings: Record<string, string> = { contract: contract.id, policy: options.policy ?? "round-robin" };
    return this.#startBalancer(name, contract, backends, settings);
  }

  async route<const Parts extends { readonly [prefix: string]: AnyEndpoint }>(parts: Parts): Promise<Endpoint<RoutedContract<PartContracts<Parts>>>> {
    const entries = Object.entries(parts);
    if (entries.length === 0) throw new RangeError("route: at least one prefix is required");
    const contracts: Record<string, AnyContract> = {};
    const backends: Record<string, string> = {};
    const routes = entries.map(([prefix, e], i) => {
      if (!prefix.startsWith("/")) throw new RangeError(`route: prefix ${JSON.stringify(prefix)} must start with "/"`);
      contracts[prefix] = e.contract;
      backends[`backend-${i}`] = e.url;
      return { prefix, backend: `backend-${i}` };
    });
    const id = routeId(contracts);
    const operations = Object.assign({}, ...Object.values(contracts).map((c) => c.operations));
    const routed = Object.freeze({ kind: "contract", id, name: "route", version: 1, operations, parts: contracts });
    const name = this.#nextName("router");
    const settings = { contract: id, routes: JSON.stringify(routes) };
    // Each prefix has a pool of its own, holding the one endpoint routed there.
    return this.#startBalancer(name, routed as unknown as RoutedContract<PartContracts<Parts>>, backends, settings);
  }

  async failover<C extends AnyContract>(primary: Endpoint<C>, backup: Endpoint<C>): Promise<Endpoint<C>> {
    const contract = primary.contract;
    const name = this.#nextName(`${contract.name}-failover`);
    const backends = { "backend-0": primary.url, "backend-1": backup.url };
    const settings = { contract: contract.id, policy: "round-robin", "backend-1.backup": "true" };
    return this.#startBalancer(name, contract, backends, settings);
  }

  async rewire<R extends AnyRole, K extends keyof R["requires"] & string>(vm: Vm<R>, importName: K, to: Endpoint<R["requires"][K]>): Promise<Vm<R>> {
    const tracked = this.#vms.get(vm.name);
    if (tracked === undefined) throw new UnknownEndpointError(vm.name);
    return (await this.#rewireVm(tracked, { [importName]: to.url }, new Set())) as Vm<R>;
  }

  heal<R extends AnyRole>(vms: readonly Vm<R>[]): void {
    for (const vm of vms) {
      const tracked = this.#vms.get(vm.name);
      if (tracked !== undefined) tracked.healed = true;
    }
  }

  on(listener: (event: FarmEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async teardown(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe();
    // Everything labelled with this farm, whoever created it: a crashed controller's VMs included.
    const records = await this.#driver.list({ farm: this.name });
    await Promise.all(records.map(async (r) => {
      await this.#driver.destroy(r.id);
      this.#emit({ type: "vm-stopped", vm: r.spec.labels.vm, role: r.spec.labels.role });
    }));
    this.#vms.clear();
    this.#balancers.clear();
  }

  async status(): Promise<FarmStatus> {
    const records = await this.#driver.list({ farm: this.name });
    const balancers = await Promise.all(records.filter((r) => r.spec.settings?.adminToken !== undefined).map((r) => balancerStatus(r)));
    const vms = await Promise.all(records.map(async (r) => ({
      name: r.spec.labels.vm,
      role: r.spec.labels.role,
      state: r.state,
      address: r.address === null ? null : `${r.address.host}:${r.address.port}`,
      provides: r.state === "running" && r.address !== null ? asProvides(await announced(r)) : "-",
    })));
    return { vms, balancers };
  }

  async prune(): Promise<string[]> {
    const pruned: string[] = [];
    for (const r of await this.#driver.list({ farm: this.name })) {
      if (this.#vms.get(r.spec.labels.vm)?.record.id === r.id) continue;
      await this.#driver.destroy(r.id);
      pruned.push(r.spec.labels.vm);
      this.#emit({ type: "vm-stopped", vm: r.spec.labels.vm, role: r.spec.labels.role });
    }
    return pruned;
  }

  // ---- VMs ----------------------------------------------------------------------------------------

  #nextName(prefix: string): string {
    const n = (this.#counters.get(prefix) ?? 0) + 1;
    this.#counters.set(prefix, n);
    return `${prefix}-${n}`;
  }

  /**
   * The VM `name` running `role` with `imports`: adopted when it already runs so, made otherwise.
   * With `liveImports` the imports are brought up to date at run time (a balancer's pool), so a
   * running VM that differs only in them is adopted too.
   */
  async #ensureVm(
    name: string,
    role: AnyRole,
    imports: Record<string, string>,
    settings?: Record<string, string>,
    liveImports = false,
  ): Promise<Vm<AnyRole>> {
    const spec: VmSpec = { labels: { farm: this.name, role: role.name, vm: name }, image: role.image, imports, settings };
    let record: VmRecord | null = null;
    for (const existing of await this.#driver.list({ farm: this.name, vm: name })) {
      if (record === null && existing.state === "running" && sameSpec(existing.spec, spec, liveImports)) record = existing;
      else await this.#driver.destroy(existing.id);
    }
    const adopted = record !== null;
    try {
      if (record === null) {
        const created = await this.#driver.create(spec);
        try {
          record = await this.#driver.start(created.id);
        } catch (error) {
          await this.#driver.destroy(created.id);
          throw error;
        }
      }
      await this.#guard(name, role, record);
    } catch (error) {
      if (record !== null) await this.#driver.destroy(record.id);
      throw error instanceof GuardMismatchError ? error : new VmStartError(name, error);
    }
    const vm = vmHandle(name, role, record);
    this.#vms.set(name, { record, name, role, imports, healed: false, recovering: false, vm });
    if (!adopted) this.#emit({ type: "vm-started", vm: name, role: role.name });
    return vm;
  }

  /** The runtime guard: the VM must say it serves exactly what its role promises. */
  async #guard(name: string, role: AnyRole, record: VmRecord): Promise<void> {
    const expected: Record<string, string> = {};
    for (const [key, contract] of Object.entries(role.provides)) expected[key] = contract.id;
    const actual = await announced(record);
    const provides = actual as Record<string, unknown> | null;
    const matches = typeof provides === "object" && provides !== null &&
      Object.keys(expected).length === Object.keys(provides).length &&
      Object.entries(expected).every(([key, id]) => provides[key] === id);
    if (!matches) throw new GuardMismatchError(name, expected, actual);
  }

  /**
   * Restarts a VM with some imports changed (a process takes its imports at start): it leaves its
   * balancers, is stopped, rewired and started again (the same VM, so normally on the same address),
   * and rejoins them. Should it come back elsewhere, whoever imports it follows. `visited` holds the
   * VMs this cascade has rewired already: each is rewired once, so a cycle of imports cannot loop.
   * A VM that does not come back is destroyed, so nothing half-rewired stays.
   */
  async #rewireVm(tracked: TrackedVm, changes: Record<string, string>, visited: Set<string>): Promise<Vm<AnyRole>> {
    visited.add(tracked.name);
    const url = vmUrl(tracked.record);
    const memberOf = [...this.#balancers.values()].filter((b) => b.members.has(url));
    for (const b of memberOf) await this.#removeMember(b, url);
    const imports = { ...tracked.imports, ...changes };
    const id = tracked.record.id;
    let record: VmRecord;
    try {
      // Marked so that the stop it causes is not taken for a failure to heal.
      tracked.recovering = true;
      await this.#driver.stop(id);
      await this.#driver.reconfigure(id, imports);
      record = await this.#driver.start(id);
      await this.#guard(tracked.name, tracked.role, record);
    } catch (error) {
      this.#vms.delete(tracked.name);
      await this.#driver.destroy(id);
      this.#emit({ type: "vm-stopped", vm: tracked.name, role: tracked.role.name });
      throw error instanceof GuardMismatchError ? error : new VmStartError(tracked.name, error);
    }
    const vm = vmHandle(tracked.name, tracked.role, record);
    this.#vms.set(tracked.name, { ...tracked, record, imports, recovering: false, vm });
    const moved = vmUrl(record);
    for (const b of memberOf) await this.#addMember(b, moved);
    this.#emit({ type: "vm-rewired", vm: tracked.name, role: tracked.role.name, imports: changes, address: hostPort(record) });
    if (moved !== url) await this.#follow(url, moved, visited);
    return vm;
  }

  /**
   * The VM at `from` now serves at `to` (replaced, or rewired, on a new address). Balancers already
   * moved it in their pools; a router's part is moved here, and a VM that imports it directly is
   * rewired. One that does not come back from its rewire is reported (and removed): the rest still
   * follow.
   */
  async #follow(from: string, to: string, visited: Set<string>): Promise<void> {
    for (const balancer of this.#balancers.values()) {
      const pools = [...balancer.parts].filter(([, url]) => url === from).map(([pool]) => pool);
      for (const pool of pools) balancer.parts.set(pool, to);
      if (pools.length > 0) await this.#syncPool(balancer);
    }
    for (const tracked of [...this.#vms.values()]) {
      // A balancer's backends change at run time, through its admin API, not by a restart.
      if (this.#balancers.has(tracked.name) || visited.has(tracked.name)) continue;
      const names = Object.keys(tracked.imports).filter((key) => tracked.imports[key] === from);
      if (names.length === 0) continue;
      try {
        await this.#rewireVm(tracked, Object.fromEntries(names.map((key) => [key, to])), visited);
      } catch (error) {
        this.#emit({ type: "vm-failed", vm: tracked.name, role: tracked.role.name, reason: `rewire to follow ${from} -> ${to} failed: ${(error as Error).message}` });
      }
    }
  }

  async #removeVm(name: string): Promise<void> {
    const tracked = this.#vms.get(name);
    this.#vms.delete(name);
    for (const existing of await this.#driver.list({ farm: this.name, vm: name })) await this.#driver.destroy(existing.id);
    if (tracked !== undefined) this.#emit({ type: "vm-stopped", vm: name, role: tracked.role.name });
  }

  // ---- balancers ----------------------------------------------------------------------------------

  async #startBalancer<C extends AnyContract>(
    name: string,
    contract: C,
    backends: Record<string, string>,
    settings: Record<string, string>,
  ): Promise<Endpoint<C>> {
    const balancerRole = defineRole("balancer", { provides: { api: contract }, requires: {}, image: BALANCER_IMAGE });
    // An adopted balancer keeps the token it was started with; sameSpec ignores it for that reason.
    const running = (await this.#driver.list({ farm: this.name, vm: name })).find((r) => r.state === "running");
    const token = running?.spec.settings?.adminToken ?? randomBytes(24).toString("hex");
    const full = { ...settings, adminPort: String(BALANCER_ADMIN_PORT), adminToken: token };
    // Adopted whatever backends it now holds: the farm sets its pools at run time just below.
    await this.#ensureVm(name, balancerRole, backends, full, true);
    const tracked = this.#vms.get(name)!;
    // An intermediary the farm made is the farm's to keep alive: its clients know only its address.
    tracked.healed = true;
    const parts = routePools(settings, backends);
    const balancer: TrackedBalancer = {
      name,
      adminUrl: adminUrlOf(tracked.record),
      token,
      members: new Set(parts.size === 0 ? Object.values(backends) : []),
      backups: new Set(Object.entries(backends).filter(([key]) => settings[`${key}.backup`] === "true").map(([, url]) => url)),
      parts,
    };
    try {
      // Level-triggered: an adopted balancer may hold an older pool (replicas healed or dropped since
      // it started); setting the whole pool is a no-op for one that is already right.
      await this.#syncPool(balancer);
    } catch (error) {
      await this.#removeVm(name);
      throw error;
    }
    this.#balancers.set(name, balancer);
    this.#emit({ type: "pool-changed", pool: name, backends: Object.values(backends) });
    return endpoint(contract, vmUrl(tracked.record), `balancer ${name}`);
  }

  /** Sets a balancer's whole pools to what the farm tracks, once its admin API answers. */
  async #syncPool(balancer: TrackedBalancer): Promise<void> {
    await this.#untilAdminAnswers(balancer);
    if (balancer.parts.size === 0) {
      const pool = [...balancer.members].map((url) => ({ ...backendAt(url), backup: balancer.backups.has(url) }));
      await this.#admin(balancer, "PUT", "/pools/main/backends", pool);
    }
    for (const [pool, url] of balancer.parts) await this.#admin(balancer, "PUT", `/pools/${pool}/backends`, [backendAt(url)]);
  }

  /** A balancer's front answers a little before its admin API listens; the farm needs both. */
  async #untilAdminAnswers(balancer: TrackedBalancer): Promise<void> {
    const deadline = this.#clock.now() + ADMIN_TIMEOUT_MS;
    for (;;) {
      let problem: string;
      try {
        const response = await request(`${balancer.adminUrl}/healthz`, { headersTimeout: ADMIN_TIMEOUT_MS, bodyTimeout: ADMIN_TIMEOUT_MS });
        await response.body.dump();
        if (response.statusCode === 200) return;
        problem = `HTTP ${response.statusCode}`;
      } catch (error) {
        problem = (error as Error).message;
      }
      if (this.#clock.now() >= deadline) throw new BalancerCallError(balancer.name, "GET /healthz", problem);
      await this.#clock.sleep(25);
    }
  }

  async #admin(balancer: TrackedBalancer, method: "PUT" | "POST" | "DELETE", route: string, body?: unknown): Promise<void> {
    const response = await request(`${balancer.adminUrl}${route}`, {
      method,
      headers: { authorization: `Bearer ${balancer.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: ADMIN_TIMEOUT_MS,
      bodyTimeout: ADMIN_TIMEOUT_MS,
    });
    const text = await response.body.text();
    // Removing a backend that is already gone is what was wanted.
    if (response.statusCode >= 300 && !(method === "DELETE" && response.statusCode === 404)) {
      throw new BalancerCallError(balancer.name, `${method} ${route}`, `HTTP ${response.statusCode} ${text.slice(0, 200)}`);
    }
  }

  async #removeMember(balancer: TrackedBalancer, url: string): Promise<void> {
    await this.#admin(balancer, "DELETE", `/pools/main/backends/${encodeURIComponent(backendId(backendAt(url)))}`);
    balancer.members.delete(url);
    this.#emit({ type: "pool-changed", pool: balancer.name, backends: [...balancer.members] });
  }

  async #addMember(balancer: TrackedBalancer, url: string): Promise<void> {
    await this.#admin(balancer, "POST", "/pools/main/backends", backendAt(url));
    balancer.members.add(url);
    this.#emit({ type: "pool-changed", pool: balancer.name, backends: [...balancer.members] });
  }

  // ---- failures -----------------------------------------------------------------------------------

  #onDriverEvent(event: DriverEvent): void {
    if (event.type !== "vm-failed" || this.#closed) return;
    const tracked = [...this.#vms.values()].find((t) => t.record.id === event.id);
    if (tracked === undefined || tracked.recovering) return;
    this.#emit({ type: "vm-failed", vm: tracked.name, role: tracked.role.name, reason: event.reason });
    void this.#recover(tracked).catch((error: unknown) => {
      this.#emit({ type: "vm-failed", vm: tracked.name, role: tracked.role.name, reason: `recovery failed: ${(error as Error).message}` });
    });
  }

  /**
   * A failed VM leaves every balancer at once. A healed one is then, after a backoff, started again
   * as it was (same VM, same address: whoever imports it directly keeps working), the way a
   * hypervisor's HA manager restarts before it relocates; when that fails it is replaced by a fresh
   * VM of the same name, tried again with growing backoff for as long as that fails too.
   */
  async #recover(tracked: TrackedVm): Promise<void> {
    const url = vmUrl(tracked.record);
    const memberOf = [...this.#balancers.values()].filter((b) => b.members.has(url));
    await Promise.all(memberOf.map((b) => this.#removeMember(b, url)));
    if (!tracked.healed) return;
    tracked.recovering = true;
    let how: "restarted" | "replaced" = "restarted";
    for (;;) {
      await this.#clock.sleep(this.#nextHealDelay(tracked.role.name));
      if (this.#closed) return;
      try {
        if (how === "restarted") {
          const record = await this.#driver.start(tracked.record.id);
          await this.#guard(tracked.name, tracked.role, record);
          tracked.record = record;
        } else {
          // The name is kept: a name is a place in the desired farm, so a later `up` of the same
          // script adopts the replacement instead of making one more.
          await this.#ensureVm(tracked.name, tracked.role, tracked.imports);
        }
        break;
      } catch (error) {
        // Neither path leaves anything half-made behind: #ensureVm cleans up after itself, and the
        // VM that would not restart is destroyed here.
        this.#emit({ type: "vm-failed", vm: tracked.name, role: tracked.role.name, reason: `${how === "restarted" ? "restart" : "replacement"} failed: ${(error as Error).message}` });
        if (how === "restarted") {
          how = "replaced";
          this.#vms.delete(tracked.name);
          await this.#driver.destroy(tracked.record.id);
        }
      }
    }
    const healed = this.#vms.get(tracked.name)!;
    healed.healed = true;
    healed.recovering = false;
    // A balancer starts with the pool it was first given; the farm's members since then are put back.
    const asBalancer = this.#balancers.get(tracked.name);
    if (asBalancer !== undefined) {
      asBalancer.adminUrl = adminUrlOf(healed.record);
      await this.#syncPool(asBalancer);
    }
    const moved = vmUrl(healed.record);
    for (const b of memberOf) await this.#addMember(b, moved);
    // Emitted once it serves again, back in every pool it was in.
    this.#emit({ type: "vm-healed", vm: tracked.name, role: tracked.role.name, how, address: hostPort(healed.record) });
    // A replacement may serve on another address: whoever imported the failed VM directly follows.
    if (moved !== url) await this.#follow(url, moved, new Set([tracked.name]));
  }

  /** Failures of a role back off exponentially; a role quiet for twice the longest delay starts over. */
  #nextHealDelay(role: string): number {
    const now = this.#clock.now();
    const last = this.#failures.get(role);
    const failures = last !== undefined && now - last.at < 2 * this.#healMax ? last.count + 1 : 1;
    this.#failures.set(role, { count: failures, at: now });
    return Math.min(this.#healMax, this.#healBase * 2 ** (failures - 1));
  }

  #emit(event: FarmEvent): void {
    for (const listener of this.#listeners) listener(event);
  }
}

/** What a VM answers at /.well-known/farmhand: its `provides` object, or a string saying why there is none. */
async function announced(record: VmRecord): Promise<unknown> {
  try {
    const response = await request(`${vmUrl(record)}/.well-known/farmhand`, {
      headersTimeout: GUARD_TIMEOUT_MS,
      bodyTimeout: GUARD_TIMEOUT_MS,
    });
    if (response.statusCode !== 200) {
      await response.body.dump();
      return `HTTP ${response.statusCode}`;
    }
    return ((await response.body.json()) as { provides?: unknown }).provides;
  } catch (error) {
    return `no answer (${(error as Error).message})`;
  }
}

function asProvides(said: unknown): Record<string, string> | string {
  if (typeof said === "string") return said;
  const ok = typeof said === "object" && said !== null && Object.values(said).every((v) => typeof v === "string");
  return ok ? (said as Record<string, string>) : "malformed answer";
}

async function balancerStatus(record: VmRecord): Promise<BalancerStatus> {
  const settings = record.spec.settings ?? {};
  const base = { name: record.spec.labels.vm, contract: settings.contract ?? "?" };
  if (record.address === null) return { ...base, backends: [], error: "not running" };
  try {
    const response = await request(`http://${formatHost(record.address.host)}:${settings.adminPort}/pools`, {
      headers: { authorization: `Bearer ${settings.adminToken}` },
      headersTimeout: ADMIN_TIMEOUT_MS,
      bodyTimeout: ADMIN_TIMEOUT_MS,
    });
    if (response.statusCode !== 200) {
      await response.body.dump();
      return { ...base, backends: [], error: `admin API answered ${response.statusCode}` };
    }
    const { pools } = (await response.body.json()) as { pools: { name: string; backends: { id: string; routable: boolean; healthy: boolean; lifecycle: string; inFlight: number }[] }[] };
    const backends = pools.flatMap((p) => p.backends.map((b) => ({ id: b.id, pool: p.name, routable: b.routable, healthy: b.healthy, lifecycle: b.lifecycle, inFlight: b.inFlight })));
    return { ...base, backends, error: null };
  } catch (error) {
    return { ...base, backends: [], error: (error as Error).message };
  }
}

function importUrls(imports: Record<string, AnyEndpoint>): Record<string, string> {
  const urls: Record<string, string> = {};
  for (const [name, e] of Object.entries(imports)) urls[name] = e.url;
  return urls;
}

function vmUrl(record: VmRecord): string {
  if (record.address === null) throw new Error(`VM ${record.spec.labels.vm} has no address yet`);
  return `http://${hostPort(record)}`;
}

function hostPort(record: VmRecord): string {
  return record.address === null ? "" : `${formatHost(record.address.host)}:${record.address.port}`;
}

/** A router's pools, named as the balancer image names them: `route-<i>` for its i-th route. */
function routePools(settings: Record<string, string>, backends: Record<string, string>): Map<string, string> {
  const routes = JSON.parse(settings.routes ?? "[]") as { backend: string }[];
  return new Map(routes.map((r, i) => [`route-${i}`, backends[r.backend]]));
}

function formatHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

function vmHandle(name: string, role: AnyRole, record: VmRecord): Vm<AnyRole> {
  const handle: Record<string, unknown> = { id: record.id, name, role, address: record.address };
  for (const [key, contract] of Object.entries(role.provides)) handle[key] = endpoint(contract, vmUrl(record), `${name}.${key}`);
  return Object.freeze(handle) as Vm<AnyRole>;
}

/** Whether an existing VM already is what is asked for (a balancer's generated token aside). */
function sameSpec(a: VmSpec, b: VmSpec, ignoreImports: boolean): boolean {
  const settings = (s: VmSpec["settings"]) => JSON.stringify(Object.entries(s ?? {}).filter(([k]) => k !== "adminToken").sort());
  return a.image === b.image && a.labels.role === b.labels.role &&
    (ignoreImports || JSON.stringify(Object.entries(a.imports).sort()) === JSON.stringify(Object.entries(b.imports).sort())) &&
    settings(a.settings) === settings(b.settings);
}

function adminUrlOf(record: VmRecord): string {
  return `http://${formatHost(record.address!.host)}:${BALANCER_ADMIN_PORT}`;
}

function backendAt(url: string): { address: string; port: number } {
  const { hostname, port, protocol } = new URL(url);
  // URL leaves a scheme's default port out; the balancer's backend ids always carry it.
  return { address: hostname.replace(/^\[|\]$/g, ""), port: Number(port || (protocol === "https:" ? 443 : 80)) };
}
