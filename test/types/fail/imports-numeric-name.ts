// A numeric key among the imports is an import name too ("0" at run time), and no role declares one.
import { farm, InventoryService, OrderService, PaymentService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
// @expect TS2353
await farm.vm(OrderService, { payments: pay.api, inventory: inv.api, 0: pay.api });
const wiring = { payments: pay.api, inventory: inv.api, 404: inv.api };
// @expect TS2345
await farm.replicate(2, OrderService, wiring);
