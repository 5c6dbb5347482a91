// An endpoint chosen by a condition serves one of two contracts: not the one the import wants.
import { farm, InventoryService, LedgerService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const ledger = await farm.vm(LedgerService, {});
const inv = await farm.vm(InventoryService, {});
const money = process.env.LEDGER === "1" ? ledger.api : pay.api;
// @expect TS2322
await farm.vm(OrderService, { payments: money, inventory: inv.api });
