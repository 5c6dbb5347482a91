// An endpoint taken out by destructuring, under another name, is still the ledger's.
import { farm, InventoryService, LedgerService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";
const ledger = await farm.vm(LedgerService, {});
const inv = await farm.vm(InventoryService, {});
const { api: money } = ledger;
// @expect TS2322
await farm.vm(OrderService, { payments: money, inventory: inv.api });
