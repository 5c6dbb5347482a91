// A VM is not an endpoint: the import wants one of the endpoints it provides (orders.api).
import { farm, InventoryService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";

const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const orders = await farm.vm(OrderService, { payments: pay.api, inventory: inv.api });
// @expect TS2739
await farm.vm(WebFrontend, { orders: orders });
