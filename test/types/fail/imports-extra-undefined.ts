// An extra import set to undefined is still an import the role does not have.
import { farm, InventoryService, LedgerService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const wiring = { payments: pay.api, inventory: inv.api, audit: undefined };
// @expect TS2345
await farm.vm(OrderService, wiring);
