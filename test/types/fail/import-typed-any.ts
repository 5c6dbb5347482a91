// One import typed any is not checked against its contract: refused, with the import named.
import { farm, InventoryService, OrderService } from "../fixtures.ts";
const inv = await farm.vm(InventoryService, {});
const anything: any = inv.api;
// @expect TS2345
await farm.vm(OrderService, { payments: anything, inventory: inv.api });
