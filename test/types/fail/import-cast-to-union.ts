// A cast that is not `as any`: widening an endpoint to a union of contracts does not make it fit one.
import type { Endpoint } from "../../../control/contracts/index.ts";
import { farm, type Inventory1, InventoryService, OrderService, type Payments1 } from "../fixtures.ts";
const inv = await farm.vm(InventoryService, {});
// @expect TS2322
await farm.vm(OrderService, { payments: inv.api as Endpoint<typeof Payments1 | typeof Inventory1>, inventory: inv.api });
