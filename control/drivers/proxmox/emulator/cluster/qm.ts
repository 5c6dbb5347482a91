// What changes a VM, as `qm` (and the API handlers behind it) does: clone, config updates, and its
// power: start, stop, shutdown, reset, destroy. Each change that Proxmox forks a task for is a task
// here, answering its UPID at once; the checks Proxmox makes before forking fail the call itself.
//
// Power and guest are apart: powering on boots the guest's service process, powering off ends it,
// but the service dying or hanging on its own leaves the VM running (only the service stops
// answering), as on a real cluster. `reset` restarts the guest of a running VM.

import { fail } from "../errors.ts";
import type { Guests } from "../guest/guests.ts";
import { cloneConfig, confPath, isTemplate, prepareConfigUpdate } from "./config.ts";
import type { Cluster, EmulatedVm } from "./cluster.ts";
import { takeLockTimeout } from "./faults.ts";

export interface CloneRequest {
  readonly newid: number;
  readonly name?: string;
  /** Undefined: a full clone of a VM, a linked one of a template. */
  readonly full?: boolean;
  /** The node the clone goes to. */
  readonly target: string;
  readonly description?: string;
}

export interface ShutdownRequest {
  readonly skiplock: boolean;
  /** Seconds to wait for the guest; undefined: the emulator's default. */
  readonly timeoutS?: number;
  /** Kill it when it does not shut down in time, instead of failing. */
  readonly forceStop: boolean;
}

/** Who runs `qm` on a node's shell. */
export const SHELL_USER = "root@pam";

export class Qm {
  readonly #cluster: Cluster;
  readonly #guests: Guests;
  readonly #taskDelayMs: number;
  readonly #shutdownTimeoutMs: number;

  constructor(cluster: Cluster, guests: Guests, settings: { readonly taskDelayMs: number; readonly shutdownTimeoutMs: number }) {
    this.#cluster = cluster;
    this.#guests = guests;
    this.#taskDelayMs = settings.taskDelayMs;
    this.#shutdownTimeoutMs = settings.shutdownTimeoutMs;
  }

  /** Clones `src` (on `node`): the new VM exists at once, locked ("clone") until its task ends; a failed task removes it. */
  clone(node: string, src: EmulatedVm, req: CloneRequest, user: string): string {
    const c = this.#cluster;
    const full = req.full ?? !isTemplate(src.config);
    if (!full && !isTemplate(src.config)) throw fail("parameter 'full' - linked clone feature is only available for templates");
    if (req.target !== node && c.faults.offlineNodes.has(req.target)) throw fail(`target node '${req.target}' is offline`);
    const existing = c.vms.get(req.newid);
    if (existing !== undefined) throw fail(`VM ${req.newid} already exists on node '${existing.node}'`);
    const lockErr = takeLockTimeout(c.faults, src.vmid);
    if (lockErr !== null) throw fail(lockErr);
    if (!isTemplate(src.config)) c.checkLock(src);
    const vm = c.newVm(req.newid, req.target, cloneConfig(src.config, src.vmid, req.newid, req.name, req.description), src.image);
    c.vms.set(req.newid, vm);
    return c.tasks.start(node, "qmclone", String(src.vmid), user, async (log) => {
      log(`create ${full ? "full" : "linked"} clone of drive scsi0 (${src.config.scsi0 ?? "none"})`);
      await c.time.sleep(this.#taskDelayMs);
      if (c.vms.get(req.newid) !== vm) throw new Error(`unable to create VM ${req.newid}: config file already exists`);
      delete vm.config.lock;
    }, () => c.remove(vm));
  }

  /** PUT .../config: checked and applied before the answer. */
  updateConfig(vm: EmulatedVm, params: Readonly<Record<string, string>>, skiplock: boolean): void {
    this.#lockedNow(vm, skiplock);
    prepareConfigUpdate(vm.config, params)();
  }

  /** POST .../config: checked before the answer, applied by a qmconfig task. */
  updateConfigTask(vm: EmulatedVm, params: Readonly<Record<string, string>>, skiplock: boolean, user: string): string {
    this.#lockedNow(vm, skiplock);
    const apply = prepareConfigUpdate(vm.config, params);
    return this.#cluster.tasks.start(vm.node, "qmconfig", String(vm.vmid), user, async (log) => {
      await this.#cluster.time.sleep(this.#taskDelayMs);
      log(`update VM ${vm.vmid}: ${Object.keys(params).filter((k) => k !== "digest").map((k) => `-${k}`).join(" ")}`);
      apply();
    });
  }

  /** Powers the VM on: its guest boots (its service starts, its agent answers after the boot delay). */
  start(vm: EmulatedVm, skiplock: boolean, user: string): string {
    const c = this.#cluster;
    return c.tasks.start(vm.node, "qmstart", String(vm.vmid), user, async (log) => {
      await this.#lockInTask(vm);
      if (c.vms.get(vm.vmid) !== vm) throw new Error(`Configuration file '${confPath(vm.node, vm.vmid)}' does not exist`);
      if (isTemplate(vm.config)) throw new Error("you can't start a vm if it's a template");
      if (!skiplock) c.checkLock(vm);
      if (vm.power === "running") throw new Error(`VM ${vm.vmid} already running`);
      if (c.closed) throw new Error("emulator closed");
      log("generating cloud-init ISO");
      this.#guests.boot(vm);
      vm.power = "running";
      vm.startedAt = c.time.monotonic();
      await c.time.sleep(this.#taskDelayMs);
    });
  }

  /** Powers the VM off at once (the guest is killed, whatever state it is in). */
  stop(vm: EmulatedVm, skiplock: boolean, user: string): string {
    const c = this.#cluster;
    return c.tasks.start(vm.node, "qmstop", String(vm.vmid), user, async () => {
      await this.#lockInTask(vm);
      if (!skiplock) c.checkLock(vm);
      await c.time.sleep(this.#taskDelayMs);
      if (vm.power !== "running") return;
      if (!(await this.#powerOff(vm, 0))) throw new Error(`VM ${vm.vmid} could not be stopped`);
    });
  }

  /**
   * Asks the guest to power down (SIGTERM to its service) and waits up to the timeout: a guest that
   * does not end (a hung one) fails the task, or is killed with forceStop. A dead guest's VM powers
   * down at once, as its operating system would.
   */
  shutdown(vm: EmulatedVm, req: ShutdownRequest, user: string): string {
    const c = this.#cluster;
    return c.tasks.start(vm.node, "qmshutdown", String(vm.vmid), user, async (log) => {
      await this.#lockInTask(vm);
      if (!req.skiplock) c.checkLock(vm);
      await c.time.sleep(this.#taskDelayMs);
      if (vm.power !== "running") return;
      const graceMs = req.timeoutS !== undefined ? req.timeoutS * 1000 : this.#shutdownTimeoutMs;
      if (await this.#powerOff(vm, graceMs)) return;
      if (!req.forceStop) throw new Error("VM quit/powerdown failed - got timeout");
      log("VM still running - terminating now with SIGKILL");
      if (!(await this.#powerOff(vm, 0))) throw new Error("VM quit/powerdown failed - got timeout");
      return 1;
    });
  }

  /** A hard reset of a running VM: it stays running, its guest is killed and boots again. */
  reset(vm: EmulatedVm, skiplock: boolean, user: string): string {
    const c = this.#cluster;
    return c.tasks.start(vm.node, "qmreset", String(vm.vmid), user, async () => {
      await this.#lockInTask(vm);
      if (!skiplock) c.checkLock(vm);
      await c.time.sleep(this.#taskDelayMs);
      if (vm.power !== "running") throw new Error(`VM ${vm.vmid} not running`);
      if (!(await this.#guests.halt(vm, 0))) throw new Error(`VM ${vm.vmid} could not be reset`);
      if (c.closed) throw new Error("emulator closed");
      this.#guests.boot(vm);
    });
  }

  /** Removes a VM that is not running, with its disks. */
  destroy(vm: EmulatedVm, skiplock: boolean, user: string): string {
    const c = this.#cluster;
    if (!skiplock) c.checkLock(vm);
    if (vm.power === "running") throw fail(`VM ${vm.vmid} is running - destroy failed`);
    return c.tasks.start(vm.node, "qmdestroy", String(vm.vmid), user, async (log) => {
      await this.#lockInTask(vm);
      await c.time.sleep(this.#taskDelayMs);
      if (c.vms.get(vm.vmid) !== vm) throw new Error(`Configuration file '${confPath(vm.node, vm.vmid)}' does not exist`);
      if (vm.power === "running") throw new Error(`VM ${vm.vmid} is running - destroy failed`);
      log("Removing image: 100% complete...done.");
      c.remove(vm);
    });
  }

  /** QEMU itself dies (the OOM killer, a crash): the VM is off at once, with no task to say why. */
  async qemuDied(vm: EmulatedVm): Promise<void> {
    if (vm.power === "running") await this.#powerOff(vm, 0);
  }

  /** Ends the guest (gracefully within `graceMs`, or at once with 0) and powers the VM off: whether it is off. */
  async #powerOff(vm: EmulatedVm, graceMs: number): Promise<boolean> {
    if (!(await this.#guests.halt(vm, graceMs))) return false;
    vm.power = "stopped";
    vm.proc = null;
    vm.agentAt = null;
    vm.startedAt = null;
    return true;
  }

  /** An armed lock timeout fails a call that locks before forking. */
  #lockedNow(vm: EmulatedVm, skiplock: boolean): void {
    const lockErr = takeLockTimeout(this.#cluster.faults, vm.vmid);
    if (lockErr !== null) throw fail(lockErr);
    if (!skiplock) this.#cluster.checkLock(vm);
  }

  /** An armed lock timeout fails a task that locks inside the worker, after the usual delay. */
  async #lockInTask(vm: EmulatedVm): Promise<void> {
    const lockErr = takeLockTimeout(this.#cluster.faults, vm.vmid);
    if (lockErr === null) return;
    await this.#cluster.time.sleep(this.#taskDelayMs);
    throw new Error(lockErr);
  }
}
