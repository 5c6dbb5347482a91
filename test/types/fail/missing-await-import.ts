// A forgotten await: pay is a Promise, which has no api (farmhand check says "an await is missing").
import { farm, InventoryService, OrderService, PaymentService } from "../fixtures.ts";
const pay = farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
// @expect TS2339
await farm.vm(OrderService, { payments: pay.api, inventory: inv.api });
