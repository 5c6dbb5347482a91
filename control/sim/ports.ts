// A whole farm's world in memory: every port the reconciler needs, backed by the simulation, with no
// process, socket or wall-clock timer. The same reconciler runs on it as on a real driver.

import type { FarmPorts } from "../reconcile/ports.ts";
import { memorySecrets } from "../state/secrets.ts";
import { SimBalancers } from "./balancer.ts";
import { VirtualClock } from "./clock.ts";
import { SimDriver, type SimDriverOptions } from "./driver.ts";
import { simProber } from "./prober.ts";

export interface SimWorld {
  readonly clock: VirtualClock;
  readonly driver: SimDriver;
  readonly balancers: SimBalancers;
  readonly ports: FarmPorts;
}

export function simWorld(farm: string, options: SimDriverOptions & { readonly start?: number } = {}): SimWorld {
  const clock = new VirtualClock(options.start ?? 0);
  const driver = new SimDriver(clock, options);
  const balancers = new SimBalancers(driver);
  return {
    clock,
    driver,
    balancers,
    ports: { driver, clock, prober: simProber(driver), balancers: balancers.port, secrets: memorySecrets(farm) },
  };
}
