// ledger@1 has exactly the operations of payments@1, but it is another contract: refused.
import { farm, InventoryService, LedgerService, OrderService } from "../fixtures.ts";

const ledger = await farm.vm(LedgerService, {});
const inv = await farm.vm(InventoryService, {});
// @expect TS2322
await farm.vm(OrderService, { payments: ledger.api, inventory: inv.api });
