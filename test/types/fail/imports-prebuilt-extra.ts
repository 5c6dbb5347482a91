// Imports built beforehand carry an import the role does not declare: exact, not only for a fresh literal.
import { farm, InventoryService, OrderService, PaymentService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const imports = { payments: pay.api, inventory: inv.api, audit: pay.api };
// @expect TS2345
await farm.vm(OrderService, imports);
