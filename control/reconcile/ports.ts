// The reconciler's only ways into the world. Each real farm supplies them from real things (a driver,
// the system clock, HTTP); a simulation supplies them from memory (control/sim/). Nothing in the
// reconciler reaches past these.

import type { BalancerAdmin } from "../../native-free-core/admin/client.ts";
import type { HostPort } from "../../native-free-core/net/address.ts";
import type { Clock, Driver } from "../drivers/driver.ts";
import type { Prober } from "../guest/prober.ts";
import type { MetricsSource } from "../metrics/source.ts";
import type { FarmSecrets } from "../state/secrets.ts";

/** Reaches the admin API of the balancer VM at `address` (port: its admin port) with `token`. */
export type BalancerAdminPort = (address: HostPort, token: string) => BalancerAdmin;

export interface FarmPorts {
  readonly driver: Driver;
  readonly clock: Clock;
  /** Guard and liveness: what a VM says it serves. */
  readonly prober: Prober;
  readonly balancers: BalancerAdminPort;
  readonly secrets: FarmSecrets;
  /** Demand for autoscaling; default: the balancers' own /metrics (control/metrics/balancer-scrape.ts). */
  readonly metrics?: MetricsSource;
}
