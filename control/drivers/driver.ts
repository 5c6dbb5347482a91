// The Driver: everything the Farm needs from whatever runs VMs (child processes, Proxmox, a
// simulation). The Farm is written against this and a Clock only, never against processes or wall
// time, so every driver fits it unchanged.

/** Labels the Farm puts on every VM, so that a restarted controller finds (adopts) what it made. */
export interface VmLabels {
  readonly farm: string;
  readonly role: string;
  /** The VM's name in the farm, e.g. "orders-2". */
  readonly vm: string;
}

export interface VmSpec {
  readonly labels: VmLabels;
  /** The image to run: a folder holding a farmhand manifest (local driver), a template name (Proxmox). */
  readonly image: string;
  /** Import name -> base URL of the endpoint it is wired to. */
  readonly imports: Readonly<Record<string, string>>;
  /** Image-specific settings, as JSON (a balancer's contract, policy and pools); passed as FARMHAND_SETTINGS. */
  readonly settings?: Readonly<Record<string, unknown>>;
}

/**
 * "damaged": the driver's own record of the VM cannot be read (see VmRecord.problem). What it
 * describes may still run and hold resources, so it is listed rather than skipped; it can only be
 * destroyed, which still stops and removes everything of it the driver can find.
 */
export type VmState = "created" | "starting" | "running" | "stopped" | "failed" | "damaged";

export interface VmRecord {
  /** The driver's own identifier (a VMID, a process key). */
  readonly id: string;
  /**
   * For a damaged VM, only what could be recovered without its record: its labels, from its live
   * process or else from its id (which tells no role: ""); no image, imports or settings.
   */
  readonly spec: VmSpec;
  readonly state: VmState;
  /** Where the VM serves its endpoints, once it runs; null before. */
  readonly address: { readonly host: string; readonly port: number } | null;
  /** Set when state is "damaged": which record is damaged, and why. */
  readonly problem?: string;
  /** Where and how it runs, as far as the driver knows: for an operator to read (status, the dashboard). */
  readonly details?: VmDetails;
}

/**
 * What an operator wants to know of a VM besides its state, each driver filling in what it knows.
 * Shown, never acted on: the reconciler decides from state and address alone.
 */
export interface VmDetails {
  /** The hypervisor node it is placed on (Proxmox). */
  readonly node?: string;
  /** Its main process (local). */
  readonly pid?: number;
  /** When it last started (ms since the epoch), while it runs. */
  readonly startedAt?: number;
  /** The file its console output goes to (local). */
  readonly log?: string;
  /** Why it last ended without being asked to, as the driver saw it. */
  readonly reason?: string;
}

export type DriverEvent =
  | { readonly type: "vm-running"; readonly id: string }
  | { readonly type: "vm-stopped"; readonly id: string }
  /** The VM died without being asked to; `output` is the tail of what it printed. */
  | { readonly type: "vm-failed"; readonly id: string; readonly reason: string; readonly output: string };

export interface StopOptions {
  readonly force?: boolean;
}

export interface Driver {
  readonly name: string;
  /** Allocates a VM (not started). */
  create(spec: VmSpec): Promise<VmRecord>;
  /** Starts it and resolves once it serves (its address is known and it answers). */
  start(id: string): Promise<VmRecord>;
  /**
   * Stops it: gracefully (the guest is asked to shut down, and forced after a grace period), or with
   * `force` at once, as for a guest that no longer answers (a hung service gains nothing from the
   * wait).
   */
  stop(id: string, options?: StopOptions): Promise<void>;
  /**
   * Wires a VM that is not running to `imports` (they reach it at its next start): the same VM, id
   * and address, which is what `rewire` wants. A running VM is refused (VmRunningError).
   */
  reconfigure(id: string, imports: Readonly<Record<string, string>>): Promise<VmRecord>;
  /**
   * Removes it for good, also when it is damaged; a VM that no longer exists counts as destroyed.
   * Rejects, naming each leftover and why, when something of it could not be removed.
   */
  destroy(id: string): Promise<void>;
  status(id: string): Promise<VmRecord | null>;
  /**
   * Every VM whose labels include all of `labels`: how a controller finds the VMs it made. Damaged
   * VMs are included (state "damaged"), matched by the labels the driver could recover.
   */
  list(labels: Partial<VmLabels>): Promise<VmRecord[]>;
  /** The VM's output so far (the tail, bounded). */
  output(id: string): Promise<string>;
  /** Subscribes to events; returns the unsubscribe function. */
  events(listener: (event: DriverEvent) => void): () => void;
  /** Releases the driver's own resources (not the VMs). */
  close(): Promise<void>;
}

/** Time as the Farm sees it: real for real drivers, virtual in simulation. */
export interface Clock {
  now(): number;
  /**
   * Resolves after `ms`, or as soon as `signal` aborts (so a farm that closes leaves no timer
   * behind). A `background` wait (the reconciler's periodic passes) does not keep the process alive
   * by itself: how long a program runs is its own business (the CLI's controller stays until Ctrl-C).
   */
  sleep(ms: number, signal?: AbortSignal, background?: boolean): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal, background = false) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      if (background) timer.unref();
      signal?.addEventListener("abort", done, { once: true });
    }),
};
