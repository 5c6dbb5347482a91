// An import the role does not require: the imports are exactly the role's.
import { farm, InventoryService, OrderService, PaymentService } from "../fixtures.ts";

const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
await farm.vm(OrderService, {
  payments: pay.api,
  inventory: inv.api,
  // @expect TS2353
  audit: pay.api,
});
