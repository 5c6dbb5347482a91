// Every guest the emulator runs: booting one when its VM powers on (its image's entry with the VM's
// FARMHAND_* environment), ending one when its VM powers off, and none left behind when the emulator
// closes or its process exits.

import path from "node:path";
import type { EmulatedVm } from "../cluster/cluster.ts";
import type { ClusterTime } from "../cluster/time.ts";
import { readManifestSync } from "../../../../guest/manifest.ts";
import { guestEnvironment } from "./metadata.ts";
import { GuestProcess } from "./process.ts";

export interface GuestSettings {
  /** The port every guest's service listens on, on its VM's address. */
  readonly vmPort: number;
  /** From power-on until the guest agent answers (the start task's own delay comes first). */
  readonly bootDelayMs: number;
  readonly taskDelayMs: number;
}

/** How much of a VM's guest output is kept. */
const OUTPUT_LIMIT = 64 * 1024;

export class Guests {
  readonly #live = new Set<GuestProcess>();
  readonly #time: ClusterTime;
  readonly #settings: GuestSettings;
  readonly #killAllSync = () => {
    for (const p of this.#live) p.signal("SIGKILL");
  };

  constructor(time: ClusterTime, settings: GuestSettings) {
    this.#time = time;
    this.#settings = settings;
    // A test process that ends without closing the emulator leaves no guest behind.
    process.once("exit", this.#killAllSync);
  }

  /** Boots `vm`'s guest: its service process starts, its agent answers after the boot delay. */
  boot(vm: EmulatedVm): GuestProcess {
    const manifest = readManifestSync(vm.image);
    // cloud-init configures a static address given as ipconfig0 (a loopback one, here).
    const ip = /(?:^|,)ip=(127\.\d+\.\d+\.\d+)\/\d+/.exec(String(vm.config.ipconfig0 ?? ""));
    if (ip !== null) vm.address = ip[1];
    const guest = new GuestProcess({
      entry: path.resolve(vm.image, manifest.entry),
      cwd: vm.image,
      env: guestEnvironment({
        vmid: vm.vmid,
        name: String(vm.config.name ?? `VM${vm.vmid}`),
        description: typeof vm.config.description === "string" ? vm.config.description : undefined,
        listen: `${vm.address}:${this.#settings.vmPort}`,
      }),
      onOutput: (text) => (vm.output = (vm.output + text).slice(-OUTPUT_LIMIT)),
    });
    this.#live.add(guest);
    void guest.exit.then(() => this.#live.delete(guest));
    vm.proc = guest;
    vm.agentAt = this.#time.monotonic() + this.#settings.taskDelayMs + this.#settings.bootDelayMs;
    return guest;
  }

  /**
   * Ends `vm`'s guest as its VM powers off: gracefully within `graceMs` (an ACPI powerdown, which a
   * hung guest does not heed), or at once with 0. Whether it ended; a guest already dead has.
   */
  async halt(vm: EmulatedVm, graceMs: number): Promise<boolean> {
    const guest = vm.proc;
    if (guest === null) return true;
    return graceMs > 0 ? guest.terminate(graceMs, this.#time) : guest.kill(this.#time);
  }

  /** Kills every guest and waits for them to be gone. */
  async close(): Promise<void> {
    const live = [...this.#live];
    for (const p of live) p.signal("SIGKILL");
    await this.#time.within(Promise.all(live.map((p) => p.exit)), 5_000);
    process.removeListener("exit", this.#killAllSync);
  }
}
