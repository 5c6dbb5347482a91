// Where demand comes from: one interface for every source (a Prometheus server, the balancers' own
// /metrics read directly, a simulation's demand model), so the autoscaler is written once.

import type { BalancerAdmin } from "../../native-free-core/admin/client.ts";
import type { Reading } from "../autoscale/decide.ts";
import type { DemandMetric } from "../autoscale/policy.ts";

/** A group as a metrics source needs to find it: its farm, its balancer and pool, and that balancer's admin API. */
export interface GroupTarget {
  readonly farm: string;
  readonly balancer: string;
  readonly pool: string;
  /** For sources that read the balancer itself. */
  readonly admin: BalancerAdmin;
}

export interface MetricsSource {
  /** What the source is, for messages ("prometheus at http://127.0.0.1:9090", "the balancers' /metrics"). */
  readonly name: string;
  /**
   * One reading of a demand metric for a group. Never throws: a value that cannot be had is a
   * reading without one, saying why (an empty result is missing data, never 0).
   */
  read(group: GroupTarget, metric: DemandMetric, now: number): Promise<Reading>;
}
