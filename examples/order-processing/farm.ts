// The order-processing farm: payments and inventory, order-service replicas behind a least-request
// balancer (two, and more with demand), and the web front end wired to the balancer; every VM is
// healed.
// `farmhand check` type-checks this against the roles; `farmhand up` runs it.

import type { Farm } from "../../control/farm/farm.ts";
import { InventoryService, OrderService, PaymentService, WebFrontend } from "./roles.ts";

export default async function orderProcessing(farm: Farm) {
  const pay = await farm.vm(PaymentService, {});
  const stock = await farm.vm(InventoryService, {});
  const orders = await farm.replicate(2, OrderService, { payments: pay.api, inventory: stock.api });
  const front = await farm.balance(orders.map((o) => o.api), { policy: "least-request" });
  const web = await farm.vm(WebFrontend, { orders: front });
  // Every VM is kept alive: a payments VM that failed for good would fail every checkout.
  farm.heal([pay, stock, ...orders, web]);
  // Two order replicas at rest, up to eight under load: one per 50 requests a second. A short
  // scale-down window, so that the tour (npm start -- --tour) shows the group shrinking back.
  farm.autoscale(orders, { demand: { metric: { kind: "request-rate" }, target: 50 }, min: 2, max: 8, stabilization: { upMs: 0, downMs: 15_000 } });
  return { site: web.site, orders: front };
}
