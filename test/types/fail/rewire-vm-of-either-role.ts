// rewire on a VM of one of two roles (chosen by a condition): its imports are not known.
import { farm, InventoryService, LedgerService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const order = await farm.vm(OrderService, { payments: pay.api, inventory: inv.api });
const web = await farm.vm(WebFrontend, { orders: order.api });
const target = process.env.WEB === "1" ? web : order;
// @expect TS2345
await farm.rewire(target, "payments", pay.api);
