// A forgotten await on balance: a Promise of an endpoint is no endpoint.
import { farm, OrderService, PaymentService, InventoryService, WebFrontend } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const orders = await farm.replicate(2, OrderService, { payments: pay.api, inventory: inv.api });
const front = farm.balance(orders.map((o) => o.api));
// @expect TS2739
await farm.vm(WebFrontend, { orders: front });
