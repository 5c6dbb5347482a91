// replicate holds imports built beforehand to the role's, like vm.
import { farm, InventoryService, OrderService, PaymentService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const wiring = { payments: pay.api, inventory: inv.api, ledger: pay.api };
// @expect TS2345
await farm.replicate(3, OrderService, wiring);
