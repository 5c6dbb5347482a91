// Nested combinators: failover of balancers of replicas, routed, and VMs wired to the results inline.

import { farm, InventoryService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";

const payments = await farm.failover(
  await farm.balance((await farm.replicate(3, PaymentService, {})).map((p) => p.api)),
  (await farm.vm(PaymentService, {})).api,
);
const inventory = await farm.balance((await farm.replicate(2, InventoryService, {})).map((i) => i.api), { policy: "random" });
const zoneA = await farm.balance((await farm.replicate(2, OrderService, { payments, inventory })).map((o) => o.api));
const zoneB = await farm.balance((await farm.replicate(2, OrderService, { payments, inventory })).map((o) => o.api));
const orders = await farm.failover(zoneA, zoneB);
const webs = await farm.replicate(2, WebFrontend, { orders: await farm.balance([orders, zoneA, zoneB]) });
const front = await farm.route({ "/orders": orders, "/payments": payments, "/inventory": inventory });
farm.heal(webs);
void front;
