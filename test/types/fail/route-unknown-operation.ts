// A routed front has the operations of its parts only: no inventory operation here.
import { farm, InventoryService, OrderService, PaymentService } from "../fixtures.ts";

const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const orders = await farm.vm(OrderService, { payments: pay.api, inventory: inv.api });
const front = await farm.route({ "/orders": orders.api, "/payments": pay.api });
// @expect TS2339
console.log(front.contract.operations.stock.path);
