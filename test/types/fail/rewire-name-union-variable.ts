// An import name typed as a union of two names: one import at a time.
import { farm, InventoryService, OrderService, PaymentService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const order = await farm.vm(OrderService, { payments: pay.api, inventory: inv.api });
const which: "payments" | "inventory" = Math.random() < 0.5 ? "payments" : "inventory";
// @expect TS2345
await farm.rewire(order, which, inv.api);
