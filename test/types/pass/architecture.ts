// The example farm: payments and inventory, three order servers behind a balancer, two web
// frontends wired to it, all healed, then torn down.

import { farm, InventoryService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";

const payments = await farm.vm(PaymentService, {});
const inventory = await farm.vm(InventoryService, {});
const orders = await farm.replicate(3, OrderService, { payments: payments.api, inventory: inventory.api });
const ordersApi = await farm.balance(orders.map((o) => o.api), { policy: "least-request", name: "orders" });
const web = await farm.replicate(2, WebFrontend, { orders: ordersApi });

farm.heal(orders);
farm.heal(web);
const stop = farm.on((event) => {
  if (event.type === "vm-failed") console.log(`${event.vm} (${event.role}) failed: ${event.reason}`);
});
stop();
await farm.teardown();
