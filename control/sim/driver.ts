// The simulated Driver: VMs in memory, each on its own address of 10.0.0.0/8, with boot and stop
// taking virtual time. It keeps the Driver contract the real drivers keep (labels, adoption, unknown
// ids, idempotent destroy, reconfigure only when stopped, one operation at a time per VM, a second
// instance adopting the first one's VMs) and lets a simulation break things: a VM that crashes (the
// hypervisor sees it stop), or whose service dies or hangs (it does not).

import { existsSync } from "node:fs";
import path from "node:path";
import { VmRunningError } from "../errors.ts";
import type { Clock, Driver, DriverEvent, StopOptions, VmLabels, VmRecord, VmSpec, VmState } from "../drivers/driver.ts";
import { DriverEvents } from "../drivers/events.ts";
import { KeyedSerializer } from "../drivers/serialize.ts";
import type { GuestState } from "./guest.ts";

export interface SimDriverOptions {
  /** Virtual time a VM takes to boot and to stop. Default 1 000 and 200 ms. */
  readonly bootMs?: number;
  readonly stopMs?: number;
  /** The port every VM serves on. Default 8080. */
  readonly port?: number;
}

interface SimVm {
  readonly id: string;
  spec: VmSpec;
  state: VmState;
  readonly host: string;
  guest: GuestState;
  /** Times it has booted: a guest's in-memory state (a balancer's pools) lasts one boot. */
  boots: number;
}

/** The simulated hypervisor: every VM, whichever driver instance made it, and who hears of their crashes. */
class SimHost {
  readonly vms = new Map<string, SimVm>();
  readonly brokenImages = new Set<string>();
  /** The event streams of the driver instances open on it. */
  readonly streams = new Set<DriverEvents>();
  next = 0;
}

export class SimDriver implements Driver {
  readonly name = "sim";
  readonly #clock: Clock;
  readonly #options: SimDriverOptions;
  readonly #bootMs: number;
  readonly #stopMs: number;
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
    if (!existsSync(path.join(spec.image, "farmhand.json"))) throw new Error(`sim driver: image ${spec.image} has no farmhand.json`);
    const n = ++this.#host.next;
    const vm: SimVm = {
      id: `sim-${n}`,
      spec: { ...spec, labels: { ...spec.labels }, imports: { ...spec.imports } },
      state: "created",
      host: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`,
      guest: "dead",
      boots: 0,
    };
    this.#host.vms.set(vm.id, vm);
    return this.#record(vm);
  }

  start(id: string): Promise<VmRecord> {
    return this.#serializer.run(id, () => this.#start(id));
  }

  async #start(id: string): Promise<VmRecord> {
    const vm = this.#vm(id);
    if (vm.state === "running") return this.#record(vm);
    vm.state = "starting";
    await this.#clock.sleep(this.#bootMs);
    if (!this.#host.vms.has(id) || vm.state !== "starting") throw new Error(`sim driver: VM ${vm.spec.labels.vm} (${id}) went away while starting`);
    if (this.brokenImages.has(vm.spec.image)) {
      vm.state = "failed";
      throw new Error(`sim driver: VM ${vm.spec.labels.vm} (${id}) did not boot: image ${vm.spec.image} is broken`);
    }
    vm.state = "running";
    vm.guest = "serving";
    vm.boots++;
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
      vm.guest = "dead";
      this.#events.emit({ type: "vm-stopped", id });
    });
  }

  reconfigure(id: string, imports: Readonly<Record<string, string>>): Promise<VmRecord> {
    return this.#serializer.run(id, async () => {
      const vm = this.#vm(id);
      if (vm.state === "running" || vm.state === "starting") throw new VmRunningError("sim", vm.spec.labels.vm, id, vm.state);
      vm.spec = { ...vm.spec, imports: { ...imports } };
      return this.#record(vm);
    });
  }

  destroy(id: string): Promise<void> {
    return this.#serializer.run(id, async () => {
      const vm = this.#host.vms.get(id);
      if (vm === undefined) return;
      this.#host.vms.delete(id);
      if (vm.state === "running") this.#events.emit({ type: "vm-stopped", id });
    });
  }

  async status(id: string): Promise<VmRecord | null> {
    const vm = this.#host.vms.get(id);
    return vm === undefined ? null : this.#record(vm);
  }

  async list(labels: Partial<VmLabels>): Promise<VmRecord[]> {
    return [...this.#host.vms.values()]
      .filter((vm) => (Object.keys(labels) as (keyof VmLabels)[]).every((k) => labels[k] === undefined || vm.spec.labels[k] === labels[k]))
      .map((vm) => this.#record(vm));
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

  // ---- what a simulation does to it ----------------------------------------------------------------

  /** The VM crashes: the hypervisor sees it stop (the driver reports vm-failed). */
  crash(id: string, reason = "crashed (simulated)"): void {
    const vm = this.#vm(id);
    if (vm.state !== "running") return;
    vm.state = "failed";
    vm.guest = "dead";
    for (const stream of this.#host.streams) stream.emit({ type: "vm-failed", id, reason, output: "" });
  }

  /** The service inside dies or hangs while the VM keeps running: only probes notice. */
  setGuest(id: string, state: GuestState): void {
    this.#vm(id).guest = state;
  }

  /** The guest of the VM at `host`: what a probe or a balancer reaching that address finds. */
  guestAt(host: string): { readonly id: string; readonly spec: VmSpec; readonly guest: GuestState; readonly boot: number } | null {
    for (const vm of this.#host.vms.values()) {
      if (vm.host === host && vm.state === "running") return { id: vm.id, spec: vm.spec, guest: vm.guest, boot: vm.boots };
    }
    return null;
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
