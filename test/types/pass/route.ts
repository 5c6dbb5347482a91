// route: one front endpoint whose operations are those of every routed contract, under its own id.

import type { Endpoint, RequestOf } from "../../../control/contracts/index.ts";
import { routeId, type RoutedContract } from "../../../control/farm/farm.ts";
import { farm, InventoryService, OrderService, Orders1, Payments1, PaymentService } from "../fixtures.ts";

const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const orders = await farm.replicate(2, OrderService, { payments: pay.api, inventory: inv.api });
const ordersApi = await farm.balance(orders.map((o) => o.api));

const front = await farm.route({ "/orders": ordersApi, "/payments": pay.api });
const id: "route(orders@1+payments@1)" = front.contract.id;
// The prefixes' order does not matter: the id lists the parts' ids sorted, as routeId does at run time.
const again = await farm.route({ "/payments": pay.api, "/orders": ordersApi });
const sameId: typeof id = again.contract.id;
const runtimeId: string = routeId({ "/orders": Orders1, "/payments": Payments1 });

// Every operation of every part.
const place: "/orders" = front.contract.operations.place.path;
const payPath: "/payments" = front.contract.operations.pay.path;
const refund: "POST" = front.contract.operations.refund.method;
const body: RequestOf<typeof front.contract, "pay"> = { order: "o-1", amount: 12.5 };
const parts: { readonly "/orders": typeof Orders1; readonly "/payments": typeof Payments1 } = front.contract.parts;

// Routed endpoints combine like any other: balanced, failed over, routed again.
const fronts = await farm.balance([front, again]);
const safe: Endpoint<RoutedContract<{ readonly "/orders": typeof Orders1; readonly "/payments": typeof Payments1 }>> = await farm.failover(fronts, front);
const outer = await farm.route({ "/shop": safe, "/stock": inv.api });
const outerId: "route(inventory@1+route(orders@1+payments@1))" = outer.contract.id;
const stock: "/stock/{sku}" = outer.contract.operations.stock.path;
void sameId, runtimeId, place, payPath, refund, body, parts, outerId, stock;
