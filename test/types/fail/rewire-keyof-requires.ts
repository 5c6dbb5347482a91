// A loop over the role's import names (keyof): one import at a time.
import { farm, InventoryService, OrderService, PaymentService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const order = await farm.vm(OrderService, { payments: pay.api, inventory: inv.api });
for (const name of Object.keys(OrderService.requires) as (keyof typeof OrderService.requires)[]) {
  // @expect TS2345
  await farm.rewire(order, name, inv.api);
}
