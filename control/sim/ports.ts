// A whole farm's world in memory: every port the reconciler needs, backed by the simulation, with no
// process, socket or wall-clock timer. The same reconciler runs on it as on a real driver.

import { createHash } from "node:crypto";
import type { MetricsSource } from "../metrics/source.ts";
import type { FarmPorts } from "../reconcile/ports.ts";
import { memorySecrets, type FarmSecrets } from "../state/secrets.ts";
import { SimBalancers, type SimBalancersOptions } from "./balancer/admin.ts";
import { SimDriver, type SimDriverOptions } from "./driver.ts";
import { Kernel } from "./kernel.ts";
import { simProber } from "./prober.ts";

export interface SimWorldOptions {
  /** Seeds every random choice of the world (boot times, picks, check staggers). Default 0. */
  readonly seed?: number;
  /** Virtual time at the start, in ms. Default 0. */
  readonly start?: number;
  readonly driver?: Omit<SimDriverOptions, "random">;
  readonly balancers?: SimBalancersOptions;
  /** Demand for autoscaling, read from the world's kernel. */
  readonly metrics?: (kernel: Kernel) => MetricsSource;
}

export interface SimWorld {
  readonly kernel: Kernel;
  readonly driver: SimDriver;
  readonly balancers: SimBalancers;
  readonly ports: FarmPorts;
}

export function simWorld(farm: string, options: SimWorldOptions = {}): SimWorld {
  const seed = options.seed ?? 0;
  const kernel = new Kernel({ start: options.start ?? 0, seed });
  const driver = new SimDriver(kernel, { ...options.driver, random: kernel.random });
  const balancers = new SimBalancers(kernel, driver, options.balancers);

  return {
    kernel,
    driver,
    balancers,
    ports: { driver, clock: kernel, prober: simProber(driver), balancers: balancers.port, secrets: secretsFor(farm, seed), metrics: options.metrics?.(kernel) },
  };
}

/** Secrets by farm and seed, kept for every run of this thread (the explorer makes thousands of runs). */
const kept = new Map<string, FarmSecrets>();

/** The farm's key comes from the seed: admin tokens (and what is derived from them) are the same every run. */
function secretsFor(farm: string, seed: number): FarmSecrets {
  const id = `${farm}\0${seed}`;
  let secrets = kept.get(id);
  if (secrets === undefined) {
    const key = createHash("sha256").update(`farmhand simulation key\0${seed}`).digest();
    kept.set(id, (secrets = remembered(memorySecrets(farm, key))));
  }
  return secrets;
}

/**
 * Secrets derived once per balancer: the reconciler asks for a balancer's admin token on every call
 * to it (an HMAC each time), and a simulation makes millions of such calls.
 */
function remembered(secrets: FarmSecrets): FarmSecrets {
  const tokens = new Map<string, string>();
  let metrics: string | null = null;
  return {
    adminToken(vm) {
      let token = tokens.get(vm);
      if (token === undefined) tokens.set(vm, (token = secrets.adminToken(vm)));
      return token;
    },
    metricsToken: () => (metrics ??= secrets.metricsToken()),
  };
}
