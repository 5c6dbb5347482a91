// An element of a list of endpoints of two contracts is of either.
import { farm, InventoryService, LedgerService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const ledger = await farm.vm(LedgerService, {});
const inv = await farm.vm(InventoryService, {});
const candidates = [pay.api, ledger.api];
// @expect TS2322
await farm.vm(OrderService, { payments: candidates[0], inventory: inv.api });
