// The simulated Driver: VMs in memory, each on its own address of 10.0.0.0/8, with boot and stop
// taking virtual time. It keeps the Driver contract the real drivers keep (labels, adoption, unknown
// ids, idempotent destroy, reconfigure only when stopped) and lets a simulation break things: a VM
// that crashes (the hypervisor sees it stop), or whose service dies or hangs (it does not).

import { existsSync } from "node:fs";
import path from "node:path";
import { VmRunningError } from "../errors.ts";
import type { Clock, Driver, DriverEvent, VmLabels, VmRecord, VmSpec, VmState } from "../drivers/driver.ts";
import { DriverEvents } from "../drivers/events.ts";
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

export class SimDriver implements Driver {
  readonly name = "sim";
  readonly #clock: Clock;
  readonly #bootMs: number;
  readonly #stopMs: number;
  readonly #port: number;
  readonly #vms = new Map<string, SimVm>();
  readonly #events = new DriverEvents();
  /** Images that do not boot (to simulate a broken image until it is mended). */
  readonly brokenImages = new Set<string>();
  #next = 0;

  constructor(clock: Clock, options: SimDriverOptions = {}) {
    this.#clock = clock;
    this.#bootMs = options.bootMs ?? 1_000;
    this.#stopMs = options.stopMs ?? 200;
    this.#port = options.port ?? 8080;
  }

  async create(spec: VmSpec): Promise<VmRecord> {
    for (const key of ["farm", "role", "vm"] as const) {
      if (typeof spec.labels?.[key] !== "string" || spec.labels[key] === "") throw new Error(`sim driver: spec.labels.${key} must be a non-empty string`);
    }
    if (!existsSync(path.join(spec.image, "farmhand.json"))) throw new Error(`sim driver: image ${spec.image} has no farmhand.json`);
    const n = ++this.#next;
    const vm: SimVm = {
      id: `sim-${n}`,
      spec: { ...spec, labels: { ...spec.labels }, imports: { ...spec.imports } },
      state: "created",
      host: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`,
      guest: "dead",
      boots: 0,
    };
    this.#vms.set(vm.id, vm);
    return this.#record(vm);
  }

  async start(id: string): Promise<VmRecord> {
    const vm = this.#vm(id);
    if (vm.state === "running") return this.#record(vm);
    vm.state = "starting";
    await this.#clock.sleep(this.#bootMs);
    if (!this.#vms.has(id) || vm.state !== "starting") throw new Error(`sim driver: VM ${vm.spec.labels.vm} (${id}) went away while starting`);
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

  async stop(id: string): Promise<void> {
    const vm = this.#vm(id);
    const was = vm.state;
    if (was !== "running" && was !== "starting") return;
    await this.#clock.sleep(this.#stopMs);
    vm.state = "stopped";
    vm.guest = "dead";
    this.#events.emit({ type: "vm-stopped", id });
  }

  async reconfigure(id: string, imports: Readonly<Record<string, string>>): Promise<VmRecord> {
    const vm = this.#vm(id);
    if (vm.state === "running" || vm.state === "starting") throw new VmRunningError("sim", vm.spec.labels.vm, id, vm.state);
    vm.spec = { ...vm.spec, imports: { ...imports } };
    return this.#record(vm);
  }

  async destroy(id: string): Promise<void> {
    const vm = this.#vms.get(id);
    if (vm === undefined) return;
    this.#vms.delete(id);
    if (vm.state === "running") this.#events.emit({ type: "vm-stopped", id });
  }

  async status(id: string): Promise<VmRecord | null> {
    const vm = this.#vms.get(id);
    return vm === undefined ? null : this.#record(vm);
  }

  async list(labels: Partial<VmLabels>): Promise<VmRecord[]> {
    return [...this.#vms.values()]
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
  }

  // ---- what a simulation does to it ----------------------------------------------------------------

  /** The VM crashes: the hypervisor sees it stop (the driver reports vm-failed). */
  crash(id: string, reason = "crashed (simulated)"): void {
    const vm = this.#vm(id);
    if (vm.state !== "running") return;
    vm.state = "failed";
    vm.guest = "dead";
    this.#events.emit({ type: "vm-failed", id, reason, output: "" });
  }

  /** The service inside dies or hangs while the VM keeps running: only probes notice. */
  setGuest(id: string, state: GuestState): void {
    this.#vm(id).guest = state;
  }

  /** The guest of the VM at `host`: what a probe or a balancer reaching that address finds. */
  guestAt(host: string): { readonly id: string; readonly spec: VmSpec; readonly guest: GuestState; readonly boot: number } | null {
    for (const vm of this.#vms.values()) {
      if (vm.host === host && vm.state === "running") return { id: vm.id, spec: vm.spec, guest: vm.guest, boot: vm.boots };
    }
    return null;
  }

  #vm(id: string): SimVm {
    const vm = this.#vms.get(id);
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
