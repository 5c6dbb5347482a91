// What the route handlers reach: the cluster model, the operations that change it, and who may log in.

import type { Cluster } from "../../cluster/cluster.ts";
import type { Qm } from "../../cluster/qm.ts";
import type { Auth } from "../auth.ts";

export interface RouteDeps {
  readonly cluster: Cluster;
  readonly qm: Qm;
  readonly auth: Auth;
  /** From the guest agent answering until it reports eth0's addresses. */
  readonly addressDelayMs: number;
}
