// replicate checks imports like vm: here payments and inventory are swapped (two errors, one line).
import { farm, InventoryService, OrderService, PaymentService } from "../fixtures.ts";

const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
// @expect TS2322 TS2322
await farm.replicate(3, OrderService, { payments: inv.api, inventory: pay.api });
