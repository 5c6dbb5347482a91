// rewire: point a running VM's import at another endpoint of the same contract.

import { farm, InventoryService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";

const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const order = await farm.vm(OrderService, { payments: pay.api, inventory: inv.api });
const web = await farm.vm(WebFrontend, { orders: order.api });

const morePay = await farm.replicate(2, PaymentService, {});
await farm.rewire(order, "payments", await farm.balance(morePay.map((p) => p.api)));
await farm.rewire(order, "inventory", (await farm.vm(InventoryService, {})).api);
const moreOrders = await farm.replicate(3, OrderService, { payments: pay.api, inventory: inv.api });
await farm.rewire(web, "orders", await farm.balance([order.api, ...moreOrders.map((o) => o.api)]));
