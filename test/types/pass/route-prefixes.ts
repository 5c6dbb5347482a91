// Route prefixes: nested paths, built beforehand, routed fronts routed again.
import { farm, InventoryService, OrderService, PaymentService } from "../fixtures.ts";

const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const orders = await farm.vm(OrderService, { payments: pay.api, inventory: inv.api });
const parts = { "/api/v1/orders": orders.api, "/api/v1/payments": pay.api } as const;
const v1 = await farm.route(parts);
const front = await farm.route({ "/": v1, "/stock": inv.api, "/stock.v2/items_~x": inv.api });
void front;
