// Merging two endpoints gives type never, which would be accepted anywhere: refused as an import.
import { farm, InventoryService, OrderService, PaymentService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const both = Object.assign({}, pay.api, inv.api);
// @expect TS2345
await farm.vm(OrderService, { payments: both, inventory: both });
