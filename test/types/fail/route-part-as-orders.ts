// After routing orders and payments behind one front, the payments endpoint is still payments@1:
// it cannot stand in for orders@1.
import { farm, InventoryService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";

const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const orders = await farm.vm(OrderService, { payments: pay.api, inventory: inv.api });
const front = await farm.route({ "/orders": orders.api, "/payments": pay.api });
// @expect TS2322
await farm.vm(WebFrontend, { orders: pay.api });
void front;
