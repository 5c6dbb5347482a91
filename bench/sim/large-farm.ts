// The farm `npm run bench:sim` simulates: the order-processing roles at the scale of a data centre.
// Payments and inventory, then GROUPS groups, each REPLICAS order replicas behind a least-request
// balancer with a web front end; every VM is healed, every fourth group autoscaled (one replica per
// 50 requests a second, between MIN and MAX replicas, evaluated every 15 s as Kubernetes' HPA is).

import type { Farm } from "../../control/farm/farm.ts";
import type { ReconcilerOptions } from "../../control/reconcile/reconciler.ts";
import { InventoryService, OrderService, PaymentService, WebFrontend } from "../../examples/order-processing/roles.ts";

export const GROUPS = 40;
export const REPLICAS = 248;
/** Every this many groups, one is autoscaled. */
export const AUTOSCALED_EVERY = 4;
export const MIN = 200;
export const MAX = 320;
/** What one replica should carry, in requests per second. */
export const TARGET = 50;
export const SYNC_MS = 15_000;

/** VMs the script makes: 2 + GROUPS x (REPLICAS + a balancer + a web front end). */
export const VMS = 2 + GROUPS * (REPLICAS + 2);

/**
 * How the controller of a farm this size runs. A liveness probe of every VM every 2 s (the default)
 * would be 5,000 requests a second from one controller: here a crash reaches it as the hypervisor's
 * event, a hung service is taken out of its pool by the balancers' own health checks, and the whole
 * farm is compared with the model every hour.
 */
export const CONTROLLER: ReconcilerOptions = { livenessIntervalMs: 0, resyncIntervalMs: 3_600_000 };

export default async function largeFarm(farm: Farm) {
  const pay = await farm.vm(PaymentService, {});
  const stock = await farm.vm(InventoryService, {});
  farm.heal([pay, stock]);
  for (let g = 0; g < GROUPS; g++) {
    const orders = await farm.replicate(REPLICAS, OrderService, { payments: pay.api, inventory: stock.api });
    const front = await farm.balance(orders.map((o) => o.api), { policy: "least-request" });
    const web = await farm.vm(WebFrontend, { orders: front });
    farm.heal([...orders, web]);
    if (g % AUTOSCALED_EVERY === 0) {
      farm.autoscale(orders, { demand: { metric: { kind: "request-rate" }, target: TARGET }, min: MIN, max: MAX, syncMs: SYNC_MS, stabilization: { upMs: 0, downMs: 300_000 } });
    }
  }
}
