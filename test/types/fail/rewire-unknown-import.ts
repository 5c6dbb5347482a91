// rewire of an import the role does not have ("order" for "orders").
import { farm, OrderService, PaymentService, InventoryService, WebFrontend } from "../fixtures.ts";

const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const orders = await farm.vm(OrderService, { payments: pay.api, inventory: inv.api });
const web = await farm.vm(WebFrontend, { orders: orders.api });
// @expect TS2345
await farm.rewire(web, "order", orders.api);
