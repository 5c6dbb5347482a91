// A loop over roles that require different imports: the imports must fit every role, and fit none here.
import { farm, InventoryService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const orders = await farm.vm(OrderService, { payments: pay.api, inventory: inv.api });
for (const role of [OrderService, WebFrontend]) {
  // @expect TS2353
  await farm.vm(role, { payments: pay.api, inventory: inv.api, orders: orders.api });
}
