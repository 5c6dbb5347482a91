// The reconciler: one level-triggered loop that drives what the driver observes towards the model.
//
// For each node it compares the desired VM (control/reconcile/desired.ts) with what exists under the
// node's labels, and does the least that closes the gap: adopt a VM that already is it, give new
// imports to one that only differs in them (stop, reconfigure, start: the same VM), start one that is
// stopped, make one that is missing. Then it guards it (the VM must say it serves what its role
// promises) and sets every balancer's pools to the members that serve. What triggers a pass does not
// decide what it does: a driver event, a failed liveness probe, the periodic resync and a script's
// call all end in the same comparison. So a controller that starts over adopts, a VM that moved is
// followed by whoever imports it, and drift (a pool changed by hand) is put right. A VM the
// hypervisor would not destroy when asked (a retired replica, the old VM of a node made anew) is
// reported, and destroyed again at each periodic pass until it is gone.
//
// Heal is a policy on top: a failed VM leaves every pool at once; a healed one is, after a backoff,
// started again in place (same VM, same address), and when that fails replaced by a new VM of the
// same name, for as long as it takes. Intermediaries are always healed.

import type { BalancerAdmin } from "../../native-free-core/admin/client.ts";
import { formatHostPort, httpUrl, type HostPort } from "../../native-free-core/net/address.ts";
import type { DriverEvent, VmRecord, VmSpec } from "../drivers/driver.ts";
import { KeyedSerializer } from "../drivers/serialize.ts";
import { BalancerCallError, GuardMismatchError, VmStartError } from "../errors.ts";
import { GroupScaler } from "../autoscale/scaler.ts";
import type { Autoscaled, ControlErrorEvent, FarmEvent } from "../farm/farm.ts";
import { balancerScrapeSource } from "../metrics/balancer-scrape.ts";
import { BALANCER_ADMIN_PORT } from "../images/balancer/settings.ts";
import { INTERMEDIARY_ENDPOINT, type FarmModel, type FarmNode, type IntermediaryNode } from "../model/farm-model.ts";
import type { Realizer } from "../model/recorder.ts";
import { desiredPools, desiredSpec, imageInModel, sameIdentity, sameImports, type Whereabouts } from "./desired.ts";
import type { FarmPorts } from "./ports.ts";

export interface ReconcilerOptions {
  /** Recovery of a role's failed VMs backs off from this delay, doubling per repeated failure. Default 500 ms. */
  readonly healBaseDelayMs?: number;
  readonly healMaxDelayMs?: number;
  /** How often each VM is probed at /.well-known/farmhand; 0 turns liveness off. Default 2 000 ms. */
  readonly livenessIntervalMs?: number;
  /** Probes failed in a row that make a VM failed, whatever its hypervisor says. Default 3. */
  readonly livenessFailures?: number;
  /** A probe's deadline (guard and liveness). Default 2 000 ms. */
  readonly probeTimeoutMs?: number;
  /** How often the whole farm is compared with the model anyway; 0 turns it off. Default 10 000 ms. */
  readonly resyncIntervalMs?: number;
  /** How long a new balancer's admin API may take to answer. Default 10 000 ms. */
  readonly adminReadyMs?: number;
}

type Outcome = "adopted" | "created" | "restarted" | "rewired";

/** The reconciler's own state (Reconciler.inspect). */
export interface ReconcilerState {
  readonly closed: boolean;
  readonly realized: readonly { readonly name: string; readonly id: string; readonly state: "serving" | "failed" | "recovering"; readonly address: string; readonly probeFailures: number }[];
  /** Roles whose failures still lengthen the next heal's delay: how many, and how long since the last. */
  readonly backoff: readonly { readonly role: string; readonly failures: number; readonly ageMs: number }[];
  /** Nodes being healed. */
  readonly recovering: readonly string[];
  /** Nodes gone from the model whose VMs the next resync destroys again. */
  readonly undestroyed: readonly string[];
}
type Mode = "apply" | "restart" | "replace";

interface Realized {
  record: VmRecord;
  /** serving: takes traffic; failed: known dead, not (yet) being healed; recovering: being healed or rewired. */
  state: "serving" | "failed" | "recovering";
  /** The address it last served on: importers keep it while it is away. */
  address: HostPort;
  probeFailures: number;
}

export class Reconciler implements Realizer, Whereabouts {
  readonly #model: FarmModel;
  readonly #ports: FarmPorts;
  readonly #healBase: number;
  readonly #healMax: number;
  readonly #livenessInterval: number;
  readonly #livenessFailures: number;
  readonly #probeTimeout: number;
  readonly #resyncInterval: number;
  readonly #adminReady: number;
  readonly #realized = new Map<string, Realized>();
  readonly #serial = new KeyedSerializer();
  readonly #listeners = new Set<(event: FarmEvent) => void>();
  readonly #failures = new Map<string, { count: number; at: number }>();
  readonly #recovering = new Set<string>();
  readonly #scalers = new Map<string, GroupScaler>();
  /**
   * Nodes gone from the model whose VMs could not be destroyed (the hypervisor refused, or was away):
   * every resync tries again, so a failed destroy never leaves a VM running unaccounted for.
   */
  readonly #undestroyed = new Set<string>();
  readonly #unsubscribe: () => void;
  /** Aborted on close: every wait of the reconciler ends with it. */
  readonly #stop = new AbortController();
  #closed = false;
  #watching = false;

  constructor(model: FarmModel, ports: FarmPorts, options: ReconcilerOptions = {}) {
    this.#model = model;
    this.#ports = ports;
    this.#healBase = options.healBaseDelayMs ?? 500;
    this.#healMax = options.healMaxDelayMs ?? 30_000;
    this.#livenessInterval = options.livenessIntervalMs ?? 2_000;
    this.#livenessFailures = options.livenessFailures ?? 3;
    this.#probeTimeout = options.probeTimeoutMs ?? 2_000;
    this.#resyncInterval = options.resyncIntervalMs ?? 10_000;
    this.#adminReady = options.adminReadyMs ?? 10_000;
    this.#unsubscribe = ports.driver.events((event) => this.#onDriverEvent(event));
  }

  // ---- Realizer ---------------------------------------------------------------------------------------

  async realize(names: readonly string[]): Promise<void> {
    const settled = await Promise.allSettled(names.map((name) => this.#serial.run(name, () => this.#converge(name, "apply"))));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed === undefined) {
      for (const name of names) await this.#afterChange(name);
      return;
    }
    // All or nothing: what was made of the others goes again.
    await Promise.all(names.map((name) => this.#serial.run(name, () => this.#remove(name, false))));
    throw failed.reason;
  }

  realized(node: string): { readonly id: string; readonly address: HostPort } | null {
    const r = this.#realized.get(node);
    return r === undefined ? null : { id: r.record.id, address: r.address };
  }

  on(listener: (event: FarmEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Destroys every VM labelled with the farm, whoever made it, and stops reconciling. */
  async teardown(): Promise<void> {
    this.close();
    const records = await this.#ports.driver.list({ farm: this.#model.name });
    const problems: string[] = [];
    await Promise.all(records.map(async (r) => {
      try {
        await this.#ports.driver.destroy(r.id);
        this.#emit({ type: "vm-stopped", vm: r.spec.labels.vm, role: r.spec.labels.role });
      } catch (error) {
        problems.push((error as Error).message);
      }
    }));
    this.#realized.clear();
    if (problems.length > 0) throw new Error(`teardown of farm ${this.#model.name} left something behind: ${problems.join("; ")}`);
  }

  // ---- Whereabouts --------------------------------------------------------------------------------------

  addressOf(node: string): HostPort | null {
    return this.#realized.get(node)?.address ?? null;
  }

  serving(node: string): boolean {
    return this.#realized.get(node)?.state === "serving";
  }

  imageOf(node: string): string | null {
    return imageInModel(this.#model, node);
  }

  // ---- the long run ---------------------------------------------------------------------------------------

  /**
   * Keeps reconciling until close(): probes every VM for liveness and compares the whole farm with
   * the model now and then, besides acting on the driver's events (which it does from the start).
   */
  watch(): void {
    if (this.#watching || this.#closed) return;
    this.#watching = true;
    if (this.#livenessInterval > 0) void this.#every(this.#livenessInterval, () => this.#probeAll());
    if (this.#resyncInterval > 0) void this.#every(this.#resyncInterval, () => this.resync());
  }

  /** Stops reconciling; the VMs stay as they are. */
  close(): void {
    this.#closed = true;
    this.#stop.abort();
    this.#unsubscribe();
    for (const scaler of this.#scalers.values()) scaler.stop();
  }

  /** Starts the autoscaler of a group the model says autoscales (once; again gives the same one). */
  autoscale(group: string): Autoscaled {
    let scaler = this.#scalers.get(group);
    if (scaler === undefined) {
      scaler = new GroupScaler(this.#model, group, this, this.#ports.clock, this.#ports.metrics ?? this.#scrape);
      this.#scalers.set(group, scaler);
      if (!this.#closed) scaler.start();
    }
    return scaler;
  }

  /** The default demand source, one for the whole farm (it keeps each group's previous scrape). */
  readonly #scrape = balancerScrapeSource();

  /**
   * One pass over the whole farm: VMs found dead that were thought alive are failed (and healed),
   * VMs whose imports no longer match where their dependencies serve are rewired, and every
   * balancer's pools are set to what serves.
   */
  async resync(): Promise<void> {
    const records = await this.#ports.driver.list({ farm: this.#model.name });
    // By id: a farm of thousands of VMs would make a search per VM a quadratic pass.
    const byId = new Map(records.map((x) => [x.id, x]));
    for (const [name, r] of this.#realized) {
      // A VM that failed before heal was asked for it (a script names its VMs in heal() after making
      // them) is healed once it is: the model says to keep it alive, whenever that was said.
      if (r.state === "failed" && this.#healed(name)) void this.#recover(name);
      if (r.state !== "serving") continue;
      const now = byId.get(r.record.id);
      if (now === undefined || now.state !== "running") this.#failed(name, `found ${now?.state ?? "gone"} by the periodic check`);
    }
    for (const node of this.#model.nodes) {
      if (this.#closed) return;
      if (node.kind === "vm") await this.#follow(node.name);
      else await this.#syncPools(node.name).catch((error: unknown) => this.report("sync-pools", node.name, error));
    }
    // A second VM under a serving node's name is one whose destroy failed while the node was made
    // anew: it goes now, under the node's key, so never while the node itself is being converged.
    for (const r of records) {
      const name = r.spec.labels.vm;
      if (this.#closed) return;
      if (!this.#surplus(name, r.id)) continue;
      await this.#serial.run(name, async () => {
        if (this.#surplus(name, r.id)) await this.#ports.driver.destroy(r.id);
      }).catch((error: unknown) => this.report("destroy", name, error));
    }
    for (const name of [...this.#undestroyed]) {
      if (this.#closed) return;
      // A node the model holds again is converge's to keep or replace, with whatever VM it finds.
      if (this.#model.node(name) !== undefined) this.#undestroyed.delete(name);
      else await this.#serial.run(name, () => this.#remove(name, true)).catch(() => {}); // reported by #remove
    }
  }

  /** VM `id` is labelled as node `name`, which serves from another VM. */
  #surplus(name: string, id: string): boolean {
    const r = this.#realized.get(name);
    return r !== undefined && r.state === "serving" && r.record.id !== id && this.#model.node(name) !== undefined;
  }

  /**
   * Removes every VM labelled with the farm that the model does not ask for (a replica fewer, a role
   * gone, a duplicate), returning their names.
   */
  async prune(): Promise<string[]> {
    const pruned: string[] = [];
    for (const r of await this.#ports.driver.list({ farm: this.#model.name })) {
      const name = r.spec.labels.vm;
      if (this.#model.node(name) !== undefined && this.#realized.get(name)?.record.id === r.id) continue;
      await this.#ports.driver.destroy(r.id);
      pruned.push(name);
      this.#emit({ type: "vm-stopped", vm: name, role: r.spec.labels.role });
    }
    return pruned;
  }

  /** What happened to each node in the passes so far, for a summary of a deployment. */
  readonly outcomes = new Map<string, Outcome>();

  /**
   * What the reconciler holds besides the model and the world, times relative to now: for the
   * simulator's explorer, which takes two runs whose worlds and reconcilers look the same to behave
   * the same from there on (control/sim/explore/). A role's backoff is shown while it still counts.
   */
  inspect(): ReconcilerState {
    const now = this.#ports.clock.now();
    return {
      closed: this.#closed,
      realized: [...this.#realized].map(([name, r]) => ({ name, id: r.record.id, state: r.state, address: formatHostPort(r.address), probeFailures: r.probeFailures })),
      backoff: [...this.#failures].filter(([, f]) => now - f.at < 2 * this.#healMax).map(([role, f]) => ({ role, failures: f.count, ageMs: now - f.at })),
      recovering: [...this.#recovering],
      undestroyed: [...this.#undestroyed],
    };
  }

  // ---- for the autoscaler ----------------------------------------------------------------------------

  /** Sets an intermediary's pools to what the model says now (after members were added or taken out). */
  syncPoolsOf(name: string): Promise<void> {
    return this.#syncPools(name);
  }

  /** Destroys the VMs of a node the model no longer holds (a retired replica). */
  destroyNode(name: string): Promise<void> {
    // Replica names are never reused: what is kept by name must go with the node, or a controller
    // that autoscales for months holds an entry for every replica it ever made.
    this.outcomes.delete(name);
    return this.#serial.run(name, () => this.#remove(name, true));
  }

  /** The admin API of an intermediary that serves, or null. */
  adminOf(name: string): BalancerAdmin | null {
    const r = this.#realized.get(name);
    const node = this.#model.node(name);
    if (r === undefined || r.state !== "serving" || node === undefined || node.kind === "vm") return null;
    return this.#ports.balancers({ host: r.address.host, port: BALANCER_ADMIN_PORT }, this.#ports.secrets.adminToken(name));
  }

  /** Emits an event of the farm's stream (the autoscaler's decisions travel with the rest). */
  emit(event: FarmEvent): void {
    this.#emit(event);
  }

  // ---- converging one node ------------------------------------------------------------------------------

  /**
   * Makes node `name` exist as the model says, doing the least that gets there. `restart` only
   * starts (or stops and starts) the VM that exists, and fails without one; `replace` makes a new
   * one whatever exists; `apply` adopts, rewires, restarts or makes, whichever closes the gap.
   */
  async #converge(name: string, mode: Mode): Promise<Outcome> {
    const node = this.#node(name);
    const spec = desiredSpec(this.#model.name, node, this, this.#ports.secrets);
    const driver = this.#ports.driver;
    let chosen: VmRecord | null = null;
    for (const r of await driver.list({ farm: this.#model.name, vm: name })) {
      if (chosen === null && mode !== "replace" && r.state !== "damaged" && sameIdentity(r.spec, spec)) chosen = r;
      else await driver.destroy(r.id);
    }
    let record: VmRecord | null = null;
    let outcome: Outcome = "created";
    if (chosen !== null) {
      const previous = this.#realized.get(name);
      if (previous !== undefined && previous.state === "serving") previous.state = "recovering";
      try {
        if (chosen.state === "running" && mode === "apply" && sameImports(chosen.spec.imports, spec.imports)) {
          record = chosen;
          outcome = "adopted";
          await this.#guard(node, record);
        } else {
          if (chosen.state === "running" || chosen.state === "starting") {
            // It leaves the pools it is in before it stops. A VM being healed is one that failed
            // (or stopped answering): a graceful shutdown would only wait for a guest that is gone.
            if (previous !== undefined) await this.#syncPoolsUsing(name);
            await driver.stop(chosen.id, { force: mode === "restart" });
          }
          if (!sameImports(chosen.spec.imports, spec.imports)) await driver.reconfigure(chosen.id, spec.imports);
          record = await driver.start(chosen.id);
          outcome = chosen.state === "running" && mode === "apply" ? "rewired" : "restarted";
          await this.#guard(node, record);
        }
      } catch (error) {
        // One that cannot be destroyed now is reported; the node's next pass (or its removal) destroys it again.
        await driver.destroy(chosen.id).catch((e: unknown) => this.report("destroy", name, e));
        // An image that lies about itself lies again when made anew; a VM that would not start, or an
        // adopted one that no longer answers, is made anew (unless only a restart was asked for).
        if (mode === "restart" || (error instanceof GuardMismatchError && outcome !== "adopted")) throw wrap(name, error);
        record = null;
        outcome = "created";
      }
    } else if (mode === "restart") {
      throw new VmStartError(name, new Error("there is no VM to start again"));
    }
    if (record === null) {
      const created = await driver.create(spec).catch((error: unknown) => { throw wrap(name, error); });
      try {
        record = await driver.start(created.id);
        await this.#guard(node, record);
      } catch (error) {
        await driver.destroy(created.id).catch((e: unknown) => this.report("destroy", name, e));
        throw wrap(name, error);
      }
    }
    if (record.address === null) throw new VmStartError(name, new Error("the driver reports no address for a running VM"));
    this.#realized.set(name, { record, state: "serving", address: record.address, probeFailures: 0 });
    if (outcome === "rewired" && chosen !== null) {
      const before = chosen.spec.imports;
      const changed = Object.fromEntries(Object.entries(spec.imports).filter(([k, url]) => before[k] !== url));
      this.#emit({ type: "vm-rewired", vm: name, role: spec.labels.role, imports: changed, address: formatHostPort(record.address) });
    }
    this.outcomes.set(name, this.outcomes.has(name) && outcome === "adopted" ? this.outcomes.get(name)! : outcome);
    if (node.kind !== "vm") {
      try {
        await this.#syncPools(name, true);
      } catch (error) {
        // A balancer that cannot be given its pools is of no use to anyone.
        this.#realized.delete(name);
        await driver.destroy(record.id).catch((e: unknown) => this.report("destroy", name, e));
        throw error;
      }
    }
    if (outcome === "created") this.#emit({ type: "vm-started", vm: name, role: spec.labels.role });
    return outcome;
  }

  /** After a node (re)joined: it goes back into every pool, and whoever uses it follows it. */
  async #afterChange(name: string): Promise<void> {
    await this.#syncPoolsUsing(name);
    for (const user of this.#model.dependents(name)) {
      const node = this.#model.node(user);
      if (node?.kind === "vm") await this.#follow(user);
    }
  }

  /** A VM whose imports no longer match where its dependencies serve is rewired in place. */
  async #follow(name: string): Promise<void> {
    const r = this.#realized.get(name);
    const node = this.#model.node(name);
    if (r === undefined || r.state !== "serving" || node?.kind !== "vm") return;
    let spec: VmSpec;
    try {
      spec = desiredSpec(this.#model.name, node, this, this.#ports.secrets);
    } catch {
      return; // a dependency has never served: nothing better to point at
    }
    if (sameImports(r.record.spec.imports, spec.imports)) return;
    try {
      await this.#serial.run(name, () => this.#converge(name, "apply"));
    } catch (error) {
      // Stopped for its rewire and not back: a failure like any other (healed if it is healed).
      this.#failed(name, `rewire to follow its imports failed: ${(error as Error).message}`, true);
      return;
    }
    await this.#afterChange(name);
  }

  /** The runtime guard: the VM must say it serves exactly what the model promises of it. */
  async #guard(node: FarmNode, record: VmRecord): Promise<void> {
    const expected: Record<string, string> = {};
    if (node.kind === "vm") for (const [key, c] of Object.entries(node.role.provides)) expected[key] = c.id;
    else expected[INTERMEDIARY_ENDPOINT] = node.contract.id;
    const said = record.address === null ? { ok: false as const, problem: "no address" } : await this.#ports.prober.announce(record.address, this.#probeTimeout);
    const actual = said.ok ? said.provides : said.problem;
    const matches = said.ok && Object.keys(expected).length === Object.keys(said.provides).length &&
      Object.entries(expected).every(([k, id]) => said.provides[k] === id);
    if (!matches) throw new GuardMismatchError(node.name, expected, actual);
  }

  async #remove(name: string, emit: boolean): Promise<void> {
    this.#realized.delete(name);
    try {
      for (const r of await this.#ports.driver.list({ farm: this.#model.name, vm: name })) {
        await this.#ports.driver.destroy(r.id);
        if (emit) this.#emit({ type: "vm-stopped", vm: name, role: r.spec.labels.role });
      }
      this.#undestroyed.delete(name);
    } catch (error) {
      this.#undestroyed.add(name);
      this.report("destroy", name, error);
      throw error;
    }
  }

  /**
   * Something done in the background failed, here or in an autoscaler; it is tried again later (see
   * ControlErrorEvent).
   */
  report(action: ControlErrorEvent["action"], subject: string, error: unknown): void {
    this.#emit({ type: "control-error", action, subject, reason: error instanceof Error ? error.message : String(error) });
  }

  // ---- pools ------------------------------------------------------------------------------------------------

  /**
   * Sets an intermediary's pools to the members that serve, through its admin API, where they differ
   * from what it reports (a no-op for one that is right). `starting`: it has just started, and its
   * admin API may answer a moment after its front.
   */
  async #syncPools(name: string, starting = false): Promise<void> {
    const node = this.#model.node(name);
    if (node === undefined || node.kind === "vm") return;
    await this.#serial.run(`pools:${name}`, async () => {
      const r = this.#realized.get(name);
      if (r === undefined || (r.state !== "serving" && !starting)) return;
      const admin = this.#ports.balancers({ host: r.address.host, port: BALANCER_ADMIN_PORT }, this.#ports.secrets.adminToken(name));
      const call = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
        try {
          return await fn();
        } catch (error) {
          throw new BalancerCallError(name, what, (error as Error).message);
        }
      };
      if (starting) await this.#untilAnswers(name, () => admin.health());
      let changed = false;
      for (const pool of desiredPools(node, this)) {
        const current = await call(`GET pool ${pool.name}`, () => admin.pool(pool.name));
        const active = current.backends.filter((b) => b.lifecycle === "active");
        const want = new Map(pool.backends.map((b) => [formatHostPort({ host: b.address, port: b.port }), b.backup ?? false]));
        const same = active.length === want.size && active.every((b) => want.get(b.id) === b.backup);
        if (same) continue;
        await call(`PUT pool ${pool.name}`, () => admin.replaceBackends(pool.name, pool.backends));
        changed = true;
      }
      if (changed || starting) {
        const backends = desiredPools(node, this).flatMap((p) => p.backends.map((b) => httpUrl({ host: b.address, port: b.port })));
        this.#emit({ type: "pool-changed", pool: name, backends });
      }
    });
  }

  /** Every intermediary that has `name` in a pool sets its pools again. */
  async #syncPoolsUsing(name: string): Promise<void> {
    // From the model's index of who refers to whom: a scan of every node per change is quadratic at scale.
    const users = this.#model.dependents(name).map((n) => this.#model.node(n)).filter((n): n is IntermediaryNode => n !== undefined && n.kind !== "vm");
    await Promise.all(users.map((u) => this.#syncPools(u.name).catch((error: unknown) => {
      this.#emit({ type: "vm-failed", vm: u.name, role: "balancer", reason: `could not update its pools: ${(error as Error).message}` });
    })));
  }

  async #untilAnswers(name: string, ask: () => Promise<void>): Promise<void> {
    const clock = this.#ports.clock;
    const deadline = clock.now() + this.#adminReady;
    for (;;) {
      try {
        return await ask();
      } catch (error) {
        // Closed meanwhile: every sleep below would end at once, and the loop would spin until the deadline.
        if (clock.now() >= deadline || this.#closed) throw new BalancerCallError(name, "GET /healthz", (error as Error).message);
      }
      await clock.sleep(25, this.#stop.signal);
    }
  }

  // ---- failures -----------------------------------------------------------------------------------------------

  #onDriverEvent(event: DriverEvent): void {
    if (event.type !== "vm-failed" || this.#closed) return;
    for (const [name, r] of this.#realized) {
      if (r.record.id === event.id) this.#failed(name, event.reason);
    }
  }

  /** A VM that served has failed: out of every pool at once, then healed if the model says so. */
  #failed(name: string, reason: string, evenIfBusy = false): void {
    const r = this.#realized.get(name);
    const node = this.#model.node(name);
    if (r === undefined || node === undefined || this.#closed) return;
    if (r.state !== "serving" && !(evenIfBusy && r.state === "recovering" && !this.#recovering.has(name))) return;
    r.state = "failed";
    this.#emit({ type: "vm-failed", vm: name, role: roleOf(node), reason });
    void this.#syncPoolsUsing(name);
    if (this.#healed(name)) void this.#recover(name);
  }

  /** Whether the model keeps this node alive: a VM it heals, or an intermediary (always healed). */
  #healed(name: string): boolean {
    const node = this.#model.node(name);
    return node !== undefined && (node.kind !== "vm" || node.heal);
  }

  /**
   * Heals a failed VM: after a backoff, started again as it was (same VM, same address: whoever
   * imports it directly keeps working), the way a hypervisor's HA manager restarts before it
   * relocates; when that fails, replaced by a new VM of the same name, and tried again with growing
   * backoff for as long as that fails too. Then it rejoins its pools and its users follow.
   */
  async #recover(name: string): Promise<void> {
    if (this.#recovering.has(name)) return;
    this.#recovering.add(name);
    try {
      const r = this.#realized.get(name);
      if (r !== undefined) r.state = "recovering";
      let mode: "restart" | "replace" = "restart";
      for (;;) {
        const node = this.#model.node(name);
        if (node === undefined) return;
        await this.#ports.clock.sleep(this.#nextHealDelay(roleOf(node)), this.#stop.signal);
        if (this.#closed || this.#model.node(name) === undefined) return;
        try {
          await this.#serial.run(name, () => this.#converge(name, mode));
          break;
        } catch (error) {
          this.#emit({ type: "vm-failed", vm: name, role: roleOf(node), reason: `${mode === "restart" ? "restart" : "replacement"} failed: ${(error as Error).message}` });
          mode = "replace";
        }
      }
      const node = this.#model.node(name)!;
      await this.#syncPoolsUsing(name);
      if (node.kind !== "vm") await this.#syncPools(name);
      // Torn down (or taken out of the model) meanwhile: there is nothing healed to speak of.
      const healed = this.#realized.get(name);
      if (this.#closed || healed === undefined) return;
      // Emitted once it serves again, back in every pool it was in.
      this.#emit({ type: "vm-healed", vm: name, role: roleOf(node), how: mode === "restart" ? "restarted" : "replaced", address: formatHostPort(healed.address) });
      await this.#afterChange(name);
    } finally {
      this.#recovering.delete(name);
    }
  }

  /** Failures of a role back off exponentially; a role quiet for twice the longest delay starts over. */
  #nextHealDelay(role: string): number {
    const now = this.#ports.clock.now();
    const last = this.#failures.get(role);
    const failures = last !== undefined && now - last.at < 2 * this.#healMax ? last.count + 1 : 1;
    this.#failures.set(role, { count: failures, at: now });
    return Math.min(this.#healMax, this.#healBase * 2 ** (failures - 1));
  }

  /** Liveness: a VM that does not answer its probe several times in a row has failed. */
  async #probeAll(): Promise<void> {
    await Promise.all([...this.#realized].map(async ([name, r]) => {
      if (r.state !== "serving") return;
      const said = await this.#ports.prober.announce(r.address, this.#probeTimeout);
      if (r.state !== "serving" || this.#realized.get(name) !== r) return;
      if (said.ok) {
        r.probeFailures = 0;
        return;
      }
      if (++r.probeFailures < this.#livenessFailures) return;
      this.#failed(name, `not answering at ${formatHostPort(r.address)} (${r.probeFailures} probes in a row: ${said.problem})`);
    }));
  }

  async #every(ms: number, work: () => Promise<void>): Promise<void> {
    while (!this.#closed) {
      await this.#ports.clock.sleep(ms, this.#stop.signal, true);
      if (this.#closed) return;
      await work().catch(() => {});
    }
  }

  #node(name: string): FarmNode {
    const node = this.#model.node(name);
    if (node === undefined) throw new RangeError(`farm ${this.#model.name}: no node ${name}`);
    return node;
  }

  #emit(event: FarmEvent): void {
    for (const listener of this.#listeners) listener(event);
  }
}

function roleOf(node: FarmNode): string {
  return node.kind === "vm" ? node.role.name : "balancer";
}

function wrap(name: string, error: unknown): Error {
  return error instanceof GuardMismatchError || error instanceof VmStartError || error instanceof BalancerCallError
    ? error
    : new VmStartError(name, error);
}
