// Roles from two environments (the hand-written roles of the example and the ones farmhand gen wrote
// from the same images) wired together: a contract is its id, whichever module defined it.
import * as generated from "../../../examples/order-processing/generated/environment.ts";
import { InventoryService, OrderService, PaymentService, WebFrontend } from "../../../examples/order-processing/roles.ts";
import { farm } from "../fixtures.ts";

const pay = await farm.vm(generated.Payments, {});
const stock = await farm.vm(InventoryService, {});
const orders = await farm.replicate(2, generated.Orders, { payments: pay.api, inventory: stock.api });
const more = await farm.replicate(2, OrderService, { payments: (await farm.vm(PaymentService, {})).api, inventory: stock.api });
const front = await farm.balance([...orders.map((o) => o.api), ...more.map((o) => o.api)]);
const web = await farm.vm(WebFrontend, { orders: front });
const web2 = await farm.vm(generated.Web, { orders: await farm.failover(orders[0].api, more[0].api) });
await farm.rewire(web2, "orders", front);
farm.heal([pay, stock, ...orders, ...more, web, web2]);
