// An endpoint typed as two endpoints at once (an intersection) is type never: refused as an import.
import type { Endpoint } from "../../../control/contracts/index.ts";
import { farm, InventoryService, type Ledger1, OrderService, type Payments1, PaymentService, LedgerService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const ledger = await farm.vm(LedgerService, {});
const inv = await farm.vm(InventoryService, {});
const both = Object.assign(pay.api, ledger.api) as Endpoint<typeof Payments1> & Endpoint<typeof Ledger1>;
// @expect TS2345
await farm.vm(OrderService, { payments: both, inventory: inv.api });
