// The simulated Driver: VMs in memory, each on its own address of 10.0.0.0/8, with boot and stop
// taking virtual time (a boot's length varies by a seeded jitter, the same for the same seed). It
// keeps the Driver contract the real drivers keep (labels, adoption, unknown ids, idempotent destroy,
// reconfigure only when stopped, one operation at a time per VM, a second instance adopting the first
// one's VMs) and lets a simulation break things: a VM that crashes (the hypervisor sees it stop), or
// whose service dies or hangs (it does not).
//
// The hypervisor announces every change of a guest (serving, dead, hung) on the channels of whoever
// watches: the simulated balancers' health checkers, which probe only when something changed.

import { existsSync } from "node:fs";
import path from "node:path";
import { VmRunningError } from "../errors.ts";
import type { Clock, Driver, DriverEvent, StopOptions, VmLabels, VmRecord, VmSpec, VmState } from "../drivers/driver.ts";
import { DriverEvents } from "../drivers/events.ts";
import { KeyedSerializer } from "../drivers/serialize.ts";
import { Channel } from "./channel.ts";
import type { GuestState } from "./guest.ts";
import type { SeededRandom } from "./random.ts";

export interface SimDriverOptions {
  /** Virtual time a VM takes to boot and to stop. Default 1 000 and 200 ms. */
  readonly bootMs?: number;
  readonly stopMs?: number;
  /** A boot takes bootMs x (1 +- jitter), drawn from `random` (0: always bootMs). Default 0. */
  readonly jitter?: number;
  readonly random?: SeededRandom;
  /** The port every VM serves on. Default 8080. */
  readonly port?: number;
}

/** What the hypervisor announces when a guest changes. */
export interface GuestChange {
  readonly id: string;
  readonly host: string;
  readonly guest: GuestState;
}

/** A simulated VM as the simulation sees it (read-only outside the driver). */
export interface SimVmView {
  readonly id: string;
  readonly spec: VmSpec;
  readonly state: VmState;
  readonly host: string;
  readonly guest: GuestState;
  /** Times it has booted: a guest's in-memory state (a balancer's pools) lasts one boot. */
  readonly boots: number;
}

interface SimVm extends SimVmView {
  spec: VmSpec;
  state: VmState;
  guest: GuestState;
  boots: number;
}

/** The simulated hypervisor: every VM, whichever driver instance made it, and who hears of their changes. */
class SimHost {
  readonly vms = new Map<string, SimVm>();
  /** By address: what a probe or a balancer reaching an address finds. Addresses are never reused. */
  readonly byHost = new Map<string, SimVm>();
  /** By farm and name ("shop/orders-2"): what the reconciler lists before each change. */
  readonly byName = new Map<string, Set<SimVm>>();
  readonly brokenImages = new Set<string>();
  /** The event streams of the driver instances open on it. */
  readonly streams = new Set<DriverEvents>();
  readonly watchers = new Set<Channel<GuestChange>>();
  readonly images = new Map<string, boolean>();
  next = 0;
  /** Bumped on every change: lets a checker skip turns in which nothing changed. */
  version = 0;
  /** VMs changed since a checker last took them (null: nobody asked to track them). */
  changed: Set<SimVm> | null = null;
}

export class SimDriver implements Driver {
  readonly name = "sim";
  readonly #clock: Clock;
  readonly #options: SimDriverOptions;
  readonly #bootMs: number;
  readonly #stopMs: number;
  readonly #jitter: number;
  readonly #port: number;
  #host = new SimHost();
  readonly #events = new DriverEvents();
  /** Operations on one VM run one after another (within this instance), as the real drivers' do. */
  readonly #serializer = new KeyedSerializer();

  constructor(clock: Clock, options: SimDriverOptions = {}) {
    this.#clock = clock;
    this.#options = options;
    this.#bootMs = options.bootMs ?? 1_000;
    this.#stopMs = options.stopMs ?? 200;
    this.#jitter = options.jitter ?? 0;
    if (!(this.#jitter >= 0 && this.#jitter < 1)) throw new RangeError(`sim driver: jitter must be in [0, 1) (got ${this.#jitter})`);
    if (this.#jitter > 0 && options.random === undefined) throw new RangeError("sim driver: a jitter needs a seeded random");
    this.#port = options.port ?? 8080;
    this.#host.streams.add(this.#events);
  }

  /** Images that do not boot (to simulate a broken image until it is mended). */
  get brokenImages(): Set<string> {
    return this.#host.brokenImages;
  }

  /**
   * Another driver instance on the same simulated hypervisor, as a restarted controller opens: it
   * sees the same VMs, has its own event stream, and hears of crashes as every open instance does.
   */
  attach(): SimDriver {
    const other = new SimDriver(this.#clock, this.#options);
    other.#host.streams.delete(other.#events);
    other.#host = this.#host;
    this.#host.streams.add(other.#events);
    return other;
  }

  async create(spec: VmSpec): Promise<VmRecord> {
    for (const key of ["farm", "role", "vm"] as const) {
      if (typeof spec.labels?.[key] !== "string" || spec.labels[key] === "") throw new Error(`sim driver: spec.labels.${key} must be a non-empty string`);
    }
    if (!this.#imageExists(spec.image)) throw new Error(`sim driver: image ${spec.image} has no farmhand.json`);
    const host = this.#host;
    const n = ++host.next;
    const vm: SimVm = {
      id: `sim-${n}`,
      spec: { ...spec, labels: { ...spec.labels }, imports: { ...spec.imports } },
      state: "created",
      host: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`,
      guest: "dead",
      boots: 0,
    };
    host.vms.set(vm.id, vm);
    host.byHost.set(vm.host, vm);
    const key = nameKey(vm.spec.labels);
    let named = host.byName.get(key);
    if (named === undefined) host.byName.set(key, (named = new Set()));
    named.add(vm);
    this.#touch(vm);
    return this.#record(vm);
  }

  start(id: string): Promise<VmRecord> {
    return this.#serializer.run(id, () => this.#start(id));
  }

  async #start(id: string): Promise<VmRecord> {
    const vm = this.#vm(id);
    if (vm.state === "running") return this.#record(vm);
    vm.state = "starting";
    this.#touch(vm);
    await this.#clock.sleep(this.#bootTime(vm));
    if (!this.#host.vms.has(id) || vm.state !== "starting") throw new Error(`sim driver: VM ${vm.spec.labels.vm} (${id}) went away while starting`);
    if (this.brokenImages.has(vm.spec.image)) {
      vm.state = "failed";
      this.#touch(vm);
      throw new Error(`sim driver: VM ${vm.spec.labels.vm} (${id}) did not boot: image ${vm.spec.image} is broken`);
    }
    vm.state = "running";
    vm.boots++;
    this.#setGuest(vm, "serving");
    this.#events.emit({ type: "vm-running", id });
    return this.#record(vm);
  }

  stop(id: string, options: StopOptions = {}): Promise<void> {
    return this.#serializer.run(id, async () => {
      const vm = this.#vm(id);
      const was = vm.state;
      if (was !== "running" && was !== "starting") return;
      // A forced stop is the hypervisor pulling the plug: no time for the guest.
      if (options.force !== true) await this.#clock.sleep(this.#stopMs);
      vm.state = "stopped";
      this.#setGuest(vm, "dead");
      this.#events.emit({ type: "vm-stopped", id });
    });
  }

  reconfigure(id: string, imports: Readonly<Record<string, string>>): Promise<VmRecord> {
    return this.#serializer.run(id, async () => {
      const vm = this.#vm(id);
      if (vm.state === "running" || vm.state === "starting") throw new VmRunningError("sim", vm.spec.labels.vm, id, vm.state);
      vm.spec = { ...vm.spec, imports: { ...imports } };
      this.#touch(vm);
      return this.#record(vm);
    });
  }

  destroy(id: string): Promise<void> {
    return this.#serializer.run(id, async () => {
      const host = this.#host;
      const vm = host.vms.get(id);
      if (vm === undefined) return;
      host.vms.delete(id);
      host.byHost.delete(vm.host);
      host.byName.get(nameKey(vm.spec.labels))?.delete(vm);
      const was = vm.state;
      vm.state = "stopped";
      this.#setGuest(vm, "dead");
      if (was === "running") this.#events.emit({ type: "vm-stopped", id });
    });
  }

  async status(id: string): Promise<VmRecord | null> {
    const vm = this.#host.vms.get(id);
    return vm === undefined ? null : this.#record(vm);
  }

  async list(labels: Partial<VmLabels>): Promise<VmRecord[]> {
    const matches = (vm: SimVm) => (Object.keys(labels) as (keyof VmLabels)[]).every((k) => labels[k] === undefined || vm.spec.labels[k] === labels[k]);
    // One VM's name is what the reconciler asks for before every change: answered from the index,
    // in the order the VMs were made, as the full scan would.
    const candidates = labels.farm !== undefined && labels.vm !== undefined
      ? [...(this.#host.byName.get(nameKey({ farm: labels.farm, vm: labels.vm })) ?? [])].sort((a, b) => idOrder(a.id) - idOrder(b.id))
      : this.#host.vms.values();
    const out: VmRecord[] = [];
    for (const vm of candidates) if (matches(vm)) out.push(this.#record(vm));
    return out;
  }

  /** A simulated guest prints nothing. */
  async output(_id: string): Promise<string> {
    return "";
  }

  events(listener: (event: DriverEvent) => void): () => void {
    return this.#events.subscribe(listener);
  }

  async close(): Promise<void> {
    this.#events.close();
    this.#host.streams.delete(this.#events);
  }

  // ---- what a simulation does to it, and sees of it ------------------------------------------------

  /** The VM crashes: the hypervisor sees it stop (the driver reports vm-failed). */
  crash(id: string, reason = "crashed (simulated)"): void {
    const vm = this.#vm(id);
    if (vm.state !== "running") return;
    vm.state = "failed";
    this.#setGuest(vm, "dead");
    for (const stream of this.#host.streams) stream.emit({ type: "vm-failed", id, reason, output: "" });
  }

  /** The service inside dies or hangs (or serves again) while the VM keeps running: only probes notice. */
  setGuest(id: string, state: GuestState): void {
    const vm = this.#vm(id);
    if (vm.state !== "running") return;
    this.#setGuest(vm, state);
  }

  /** The guest of the running VM at `host`: what a probe or a balancer reaching that address finds. */
  guestAt(host: string): SimVmView | null {
    const vm = this.#host.byHost.get(host);
    return vm !== undefined && vm.state === "running" ? vm : null;
  }

  /** The VM with this id, while it exists. */
  byId(id: string): SimVmView | null {
    return this.#host.vms.get(id) ?? null;
  }

  /** Every VM on the hypervisor, in the order made. */
  vms(): Iterable<SimVmView> {
    return this.#host.vms.values();
  }

  /** The VMs of a farm named `vm` (normally one; two while a replacement overlaps), in the order made. */
  named(farm: string, vm: string): SimVmView[] {
    return [...(this.#host.byName.get(nameKey({ farm, vm })) ?? [])].sort((a, b) => idOrder(a.id) - idOrder(b.id));
  }

  /** A channel on which every change of a guest is announced from now on, until closed. */
  watchGuests(name: string): Channel<GuestChange> {
    const channel = new Channel<GuestChange>(name);
    this.#host.watchers.add(channel);
    return channel;
  }

  /** Stops announcing to a watcher (and closes its channel). */
  unwatch(channel: Channel<GuestChange>): void {
    this.#host.watchers.delete(channel);
    channel.close();
  }

  /** Changes with every change of any VM: a checker compares it to skip turns in which nothing happened. */
  get version(): number {
    return this.#host.version;
  }

  /** Starts recording which VMs change, for a checker that looks only at those (takeChanges). */
  trackChanges(): void {
    this.#host.changed ??= new Set();
  }

  /** The VMs changed since the last call (destroyed ones too), in the order made; forgets them. */
  takeChanges(): SimVmView[] {
    const changed = this.#host.changed;
    if (changed === null || changed.size === 0) return [];
    this.#host.changed = new Set();
    return [...changed].sort((a, b) => idOrder(a.id) - idOrder(b.id));
  }

  #touch(vm: SimVm): void {
    this.#host.version++;
    this.#host.changed?.add(vm);
  }

  #setGuest(vm: SimVm, guest: GuestState): void {
    this.#touch(vm);
    if (vm.guest === guest) return;
    vm.guest = guest;
    const change: GuestChange = { id: vm.id, host: vm.host, guest };
    for (const w of this.#host.watchers) w.send(change);
  }

  #bootTime(vm: SimVm): number {
    if (this.#jitter === 0) return this.#bootMs;
    const u = this.#options.random!.unit(`boot ${vm.id}#${vm.boots + 1}`);
    return Math.round(this.#bootMs * (1 + this.#jitter * (2 * u - 1)));
  }

  #imageExists(image: string): boolean {
    if (imagesFound.has(image)) return true;
    let known = this.#host.images.get(image);
    if (known === undefined) this.#host.images.set(image, (known = existsSync(path.join(image, "farmhand.json"))));
    if (known) imagesFound.add(image);
    return known;
  }

  #vm(id: string): SimVm {
    const vm = this.#host.vms.get(id);
    if (vm === undefined) throw new Error(`sim driver: unknown VM ${JSON.stringify(id)}`);
    return vm;
  }

  #record(vm: SimVm): VmRecord {
    return {
      id: vm.id,
      spec: vm.spec,
      state: vm.state,
      address: vm.state === "running" ? { host: vm.host, port: this.#port } : null,
    };
  }
}

/**
 * Images found to have a manifest, for every simulation of this thread: the explorer makes thousands
 * of worlds, each of which would look again. One that had none is looked for again each time.
 */
const imagesFound = new Set<string>();

function nameKey(labels: Pick<VmLabels, "farm" | "vm">): string {
  return `${labels.farm}/${labels.vm}`;
}

function idOrder(id: string): number {
  return Number(id.slice(4));
}
