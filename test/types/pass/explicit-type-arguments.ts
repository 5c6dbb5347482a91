// Explicit type arguments of one contract or role are fine.
import type { Endpoint } from "../../../control/contracts/index.ts";
import { farm, type Inventory1, InventoryService, type Orders1, OrderService, type Payments1, PaymentService } from "../fixtures.ts";

const pays = await farm.replicate<typeof PaymentService>(2, PaymentService, {});
const payments: Endpoint<typeof Payments1> = await farm.balance<typeof Payments1>(pays.map((p) => p.api));
const inv = await farm.vm<typeof InventoryService>(InventoryService, {});
const inventory = await farm.failover<typeof Inventory1>(inv.api, inv.api);
const order = await farm.vm<typeof OrderService>(OrderService, { payments, inventory });
const ordersApi: Endpoint<typeof Orders1> = await farm.failover<typeof Orders1>(order.api, order.api);
await farm.rewire<typeof OrderService, "payments">(order, "payments", pays[0].api);
void ordersApi;
