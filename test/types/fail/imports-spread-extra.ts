// An extra import that comes in by a spread of another object.
import { farm, InventoryService, OrderService, PaymentService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const base = { payments: pay.api, audit: pay.api };
// @expect TS2345
await farm.vm(OrderService, { ...base, inventory: inv.api });
