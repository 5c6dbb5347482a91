// A misspelled import name ("paymnets"): the compiler suggests "payments".
import { farm, InventoryService, OrderService, PaymentService } from "../fixtures.ts";

const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
// @expect TS2561
await farm.vm(OrderService, { paymnets: pay.api, inventory: inv.api });
