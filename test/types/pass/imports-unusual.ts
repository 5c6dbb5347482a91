// Imports written unusually but exactly: getters, `as const`, returned by a function, read from a
// readonly tuple of pairs.
import type { Endpoint, ImportsOf } from "../../../control/contracts/index.ts";
import { farm, type Inventory1, InventoryService, OrderService, type Payments1, PaymentService } from "../fixtures.ts";

const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
await farm.vm(OrderService, {
  get payments() {
    return pay.api;
  },
  inventory: inv.api,
});
await farm.vm(OrderService, { payments: pay.api, inventory: inv.api } as const);
function wiring(payments: Endpoint<typeof Payments1>, inventory: Endpoint<typeof Inventory1>) {
  return { payments, inventory };
}
await farm.replicate(2, OrderService, wiring(pay.api, inv.api));
const typed: ImportsOf<typeof OrderService> = wiring(pay.api, inv.api);
await farm.vm(OrderService, typed);
const { payments, ...rest } = wiring(pay.api, inv.api);
await farm.vm(OrderService, { ...rest, payments });
