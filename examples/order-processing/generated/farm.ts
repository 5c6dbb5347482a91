// The order-processing farm (../farm.ts), written against the environment generated from the images'
// farmhand.json metadata (./environment.ts, `farmhand gen`) instead of the hand-written ../roles.ts.
// `farmhand check examples/order-processing/generated/farm.ts` type-checks it; `farmhand up` runs it.

import type { Farm } from "../../../control/farm/farm.ts";
import { Inventory, Orders, Payments, Web } from "./environment.ts";

export default async function orderProcessing(farm: Farm) {
  const pay = await farm.vm(Payments, {});
  const stock = await farm.vm(Inventory, {});
  const orders = await farm.replicate(2, Orders, { payments: pay.api, inventory: stock.api });
  const front = await farm.balance(orders.map((o) => o.api), { policy: "least-request" });
  const web = await farm.vm(Web, { orders: front });
  // Every VM is kept alive: a payments VM that failed for good would fail every checkout.
  farm.heal([pay, stock, ...orders, web]);
  // Two order replicas at rest, up to eight under load: one per 50 requests a second. A short
  // scale-down window, so that the tour (npm start -- --tour) shows the group shrinking back.
  farm.autoscale(orders, { demand: { metric: { kind: "request-rate" }, target: 50 }, min: 2, max: 8, stabilization: { upMs: 0, downMs: 15_000 } });
  return { site: web.site, orders: front };
}
