// The emulated cluster's state: its nodes, its VMs by VMID (templates among them), the loopback
// address each VM's guest serves on, and the tasks that change them. The operations that change a
// VM are in qm.ts; what the API shows of it in ../api/views.ts.

import type { GuestProcess } from "../guest/process.ts";
import { EmulatorUsageError, fail } from "../errors.ts";
import type { EmulatedNode, EmulatorSettings } from "../options.ts";
import { confPath, templateConfig, type VmConfig } from "./config.ts";
import type { Faults } from "./faults.ts";
import { Tasks, type EmulatedTask } from "./tasks.ts";
import type { ClusterTime } from "./time.ts";

/** A VM's power as the hypervisor knows it: what status/current and /cluster/resources say. */
export type PowerState = "running" | "stopped";

export interface EmulatedVm {
  readonly vmid: number;
  node: string;
  config: VmConfig;
  /** The image folder its guest runs. */
  readonly image: string;
  /** Its own loopback address. */
  address: string;
  power: PowerState;
  /**
   * Its guest's service process while the VM is powered on, null while it is off. The process may
   * have died or hung inside a running VM: the VM stays running, only its service stops answering.
   */
  proc: GuestProcess | null;
  /** Monotonic ms when the guest agent starts answering, or null while powered off. */
  agentAt: number | null;
  /** Monotonic ms when it powered on, or null while off. */
  startedAt: number | null;
  /** The tail of its guests' output, over every boot. */
  output: string;
}

export interface EmulatorState {
  readonly nodes: Map<string, EmulatedNode>;
  readonly vms: Map<number, EmulatedVm>;
  readonly tasks: Map<string, EmulatedTask>;
}

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

export class Cluster {
  readonly nodes = new Map<string, EmulatedNode>();
  readonly vms = new Map<number, EmulatedVm>();
  readonly tasks: Tasks;
  readonly faults: Faults;
  readonly time: ClusterTime;
  /** Set once the emulator closes: nothing starts any more. */
  closed = false;
  readonly #addressPrefix: string;
  #addressCounter = 0;
  readonly #usedAddresses = new Set<string>();

  constructor(settings: EmulatorSettings, faults: Faults, time: ClusterTime) {
    this.faults = faults;
    this.time = time;
    this.tasks = new Tasks(time, faults, settings.taskDelayMs);
    this.#addressPrefix = settings.addressPrefix;
    for (const n of settings.nodes) this.nodes.set(n.name, n);
    for (const [id, t] of Object.entries(settings.templates)) {
      const vmid = Number(id);
      if (!this.nodes.has(t.node)) throw new EmulatorUsageError(`template ${vmid} is on node ${t.node}, which the cluster does not have`);
      this.vms.set(vmid, this.newVm(vmid, t.node, templateConfig(vmid, t), t.image));
    }
  }

  get state(): EmulatorState {
    return { nodes: this.nodes, vms: this.vms, tasks: this.tasks.all };
  }

  /** A powered-off VM with an address of its own (not yet in `vms`). */
  newVm(vmid: number, node: string, config: VmConfig, image: string): EmulatedVm {
    return { vmid, node, config, image, address: this.#allocateAddress(), power: "stopped", proc: null, agentAt: null, startedAt: null, output: "" };
  }

  /** Removes a VM for good, giving its address back. */
  remove(vm: EmulatedVm): void {
    if (this.vms.get(vm.vmid) === vm) this.vms.delete(vm.vmid);
    this.#usedAddresses.delete(vm.address);
  }

  /** The VM a path names (`/nodes/NODE/qemu/VMID`): 500 as Proxmox answers when its config is not on that node. */
  vm(node: string, vmidText: string): EmulatedVm {
    const vmid = Number(vmidText);
    const vm = this.vms.get(vmid);
    if (vm === undefined || vm.node !== node) throw fail(`Configuration file '${confPath(node, vmid)}' does not exist`);
    return vm;
  }

  /** Refuses a change to a locked VM (a clone in progress), as Proxmox does. */
  checkLock(vm: EmulatedVm): void {
    if (vm.config.lock !== undefined) throw fail(`VM is locked (${vm.config.lock})`);
  }

  /** The lowest free VMID from 100; reserves nothing (as /cluster/nextid does not). */
  nextId(): number {
    let id = 100;
    while (this.vms.has(id)) id++;
    return id;
  }

  vmMemory(vm: EmulatedVm): number {
    return Number(String(vm.config.memory ?? "512")) * MIB;
  }

  /** A node's memory in use: its own 2 GiB and what its running VMs were given. */
  memoryUsed(node: string): number {
    return 2 * GIB + [...this.vms.values()].filter((v) => v.node === node && v.power === "running").reduce((a, v) => a + this.vmMemory(v), 0);
  }

  #allocateAddress(): string {
    for (;;) {
      this.#addressCounter++;
      const a = `${this.#addressPrefix}.${(this.#addressCounter >> 8) & 255}.${this.#addressCounter & 255}`;
      if ((this.#addressCounter & 255) === 0 || this.#usedAddresses.has(a)) continue;
      this.#usedAddresses.add(a);
      return a;
    }
  }
}
