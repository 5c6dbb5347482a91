// A real farm: the combinators (model/recorder.ts) recording into one model, and the reconciler
// making each call real before it returns. The ports default to the real ones; a simulation passes
// its own (control/sim/).

import { adminClient } from "../../native-free-core/admin/client.ts";
import { httpUrl } from "../../native-free-core/net/address.ts";
import { systemClock, type Clock, type Driver } from "../drivers/driver.ts";
import { httpProber, type Prober } from "../guest/prober.ts";
import type { MetricsSource } from "../metrics/source.ts";
import { FarmModel } from "../model/farm-model.ts";
import { RecordingFarm } from "../model/recorder.ts";
import { observeFarm, type FarmStatus } from "../reconcile/observe.ts";
import type { BalancerAdminPort, FarmPorts } from "../reconcile/ports.ts";
import { Reconciler, type ReconcilerOptions } from "../reconcile/reconciler.ts";
import { farmDir } from "../state/home.ts";
import { fileSecrets, type FarmSecrets } from "../state/secrets.ts";
import type { Farm } from "./farm.ts";

export interface FarmOptions extends ReconcilerOptions {
  /**
   * Probe VMs for liveness and compare the farm with the model now and then, from the start (the
   * default); false for a farm opened only to look at or remove (status, down), which acts on
   * driver events alone until watch() is called.
   */
  readonly watch?: boolean;
  /** Labels every VM, so a later controller finds them (default "default"). */
  readonly name?: string;
  readonly clock?: Clock;
  readonly prober?: Prober;
  readonly balancers?: BalancerAdminPort;
  /** Demand for autoscaling; default: the balancers' own /metrics. */
  readonly metrics?: MetricsSource;
  /** Default: the farm's key in its folder under the farmhand home (control/state/home.ts). */
  readonly secrets?: FarmSecrets;
}

/** A farm as its controller sees it: the combinators, and what a deployment command needs besides. */
export interface FarmHandle extends Farm {
  /** The desired farm, as the script has built it so far. */
  readonly model: FarmModel;
  /** What the driver and the balancers themselves report: works from a controller that made none of it. */
  status(): Promise<FarmStatus>;
  /**
   * Removes every VM labelled with this farm that the model does not ask for: after a script has
   * run, what it no longer asks for (a replica fewer, a role gone). Returns their names.
   */
  prune(): Promise<string[]>;
  /** What each node's last pass did: created, adopted, restarted or rewired. */
  outcomes(): ReadonlyMap<string, "adopted" | "created" | "restarted" | "rewired">;
  /**
   * Keeps reconciling (liveness probes, the periodic comparison) besides acting on driver events,
   * until close() or teardown().
   */
  watch(): void;
  /** Stops reconciling and lets go of the driver's events; the VMs stay as they are. */
  close(): void;
}

/** The real ports around a driver. */
export function realPorts(driver: Driver, name: string, options: FarmOptions = {}): FarmPorts {
  return {
    driver,
    clock: options.clock ?? systemClock,
    prober: options.prober ?? httpProber,
    balancers: options.balancers ?? ((address, token) => adminClient(httpUrl(address), { token })),
    secrets: options.secrets ?? fileSecrets(name, farmDir(name)),
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
  };
}

export async function openFarm(driver: Driver, options: FarmOptions = {}): Promise<FarmHandle> {
  const name = options.name ?? "default";
  return farmOnPorts(name, realPorts(driver, name, options), options);
}

/** A farm on the given ports (a simulation's, or a test's). */
export function farmOnPorts(name: string, ports: FarmPorts, options: ReconcilerOptions & { readonly watch?: boolean } = {}): FarmHandle {
  const model = new FarmModel(name);
  const farm = new ControlledFarm(model, new Reconciler(model, ports, options), ports);
  if (options.watch !== false) farm.watch();
  return farm;
}

class ControlledFarm extends RecordingFarm implements FarmHandle {
  readonly #reconciler: Reconciler;
  readonly #ports: FarmPorts;

  constructor(model: FarmModel, reconciler: Reconciler, ports: FarmPorts) {
    super(model, reconciler);
    this.#reconciler = reconciler;
    this.#ports = ports;
  }

  status(): Promise<FarmStatus> {
    return observeFarm(this.name, this.#ports);
  }

  prune(): Promise<string[]> {
    return this.#reconciler.prune();
  }

  outcomes(): ReadonlyMap<string, "adopted" | "created" | "restarted" | "rewired"> {
    return this.#reconciler.outcomes;
  }

  watch(): void {
    this.#reconciler.watch();
  }

  close(): void {
    this.#reconciler.close();
  }
}
