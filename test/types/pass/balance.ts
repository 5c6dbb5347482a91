// balance over replicas, over an explicit list of one contract, and over balancers.

import type { Endpoint } from "../../../control/contracts/index.ts";
import { farm, Orders1, OrderService, Payments1, PaymentService, InventoryService } from "../fixtures.ts";

const pays = await farm.replicate(2, PaymentService, {});
const inventory = await farm.vm(InventoryService, {});
const payApi = await farm.balance(pays.map((p) => p.api));
const orders = await farm.replicate(4, OrderService, { payments: payApi, inventory: inventory.api });

const all: Endpoint<typeof Orders1> = await farm.balance(orders.map((o) => o.api), { policy: "round-robin" });
const firstTwo = await farm.balance([orders[0].api, orders[1].api]);
const lastTwo = await farm.balance([orders[2].api, orders[3].api], { policy: "consistent-hash", name: "orders-b" });
const ofBalancers: Endpoint<typeof Orders1> = await farm.balance([firstTwo, lastTwo]);
const single = await farm.balance([pays[0].api]);
const explicit = await farm.balance<typeof Payments1>([pays[0].api, pays[1].api]);
const list: readonly Endpoint<typeof Orders1>[] = [all, ofBalancers];
const fromList = await farm.balance(list);
void single, explicit, fromList;
