// VMs made together with Promise.all, over a list or as a tuple, and helpers that take the Farm and
// return typed endpoints, awaited together.
import type { Endpoint } from "../../../control/contracts/index.ts";
import type { Farm } from "../../../control/farm/farm.ts";
import { farm, type Inventory1, InventoryService, OrderService, PaymentService } from "../fixtures.ts";

const pays = await Promise.all([1, 2, 3].map(() => farm.vm(PaymentService, {})));
const [extra, stock] = await Promise.all([farm.vm(PaymentService, {}), farm.vm(InventoryService, {})]);
const payments = await farm.balance([...pays.map((p) => p.api), extra.api]);
await farm.vm(OrderService, { payments, inventory: stock.api });

async function paymentsOf(f: Farm) {
  return f.balance((await f.replicate(2, PaymentService, {})).map((p) => p.api));
}
async function inventoryOf(f: Farm): Promise<Endpoint<typeof Inventory1>> {
  return (await f.vm(InventoryService, {})).api;
}
const [payApi, invApi] = await Promise.all([paymentsOf(farm), inventoryOf(farm)]);
const orders = await Promise.all([0, 1].map(() => farm.vm(OrderService, { payments: payApi, inventory: invApi })));
farm.heal([...pays, extra, stock, ...orders]);
