// An import wired to an endpoint of another contract: inventory@1 where payments@1 is required.
import { farm, InventoryService, OrderService } from "../fixtures.ts";

const inv = await farm.vm(InventoryService, {});
// @expect TS2322
await farm.vm(OrderService, { payments: inv.api, inventory: inv.api });
