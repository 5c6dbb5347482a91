// An extra import that only comes in on one branch of a conditional spread.
import { farm, InventoryService, LedgerService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const audited = process.env.AUDIT === "1";
// @expect TS2345
await farm.vm(OrderService, { payments: pay.api, inventory: inv.api, ...(audited ? { audit: pay.api } : {}) });
