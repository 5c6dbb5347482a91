// A loop over import names widens the name to a union: rewire takes one import at a time.
import { farm, InventoryService, OrderService, PaymentService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const order = await farm.vm(OrderService, { payments: pay.api, inventory: inv.api });
for (const name of ["payments", "inventory"] as const) {
  // @expect TS2345
  await farm.rewire(order, name, pay.api);
}
