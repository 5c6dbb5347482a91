// A routed front offers the operations of orders@1 and more, but it is route(orders@1+payments@1),
// not orders@1: a role that requires orders@1 does not take it.
import { farm, InventoryService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";

const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const orders = await farm.vm(OrderService, { payments: pay.api, inventory: inv.api });
const front = await farm.route({ "/orders": orders.api, "/payments": pay.api });
// @expect TS2322
await farm.vm(WebFrontend, { orders: front });
