// An optional import the role does not declare, in the imports' declared type.
import type { Endpoint } from "../../../control/contracts/index.ts";
import { farm, InventoryService, type Inventory1, OrderService, type Payments1, PaymentService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const wiring: { payments: Endpoint<typeof Payments1>; inventory: Endpoint<typeof Inventory1>; audit?: Endpoint<typeof Payments1> } = { payments: pay.api, inventory: inv.api };
// @expect TS2345
await farm.vm(OrderService, wiring);
