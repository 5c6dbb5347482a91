// A role chosen by a condition: the audited one also requires audit, which is not given.
import { role } from "../../../control/contracts/index.ts";
import { farm, Inventory1, InventoryService, OrderService, Orders1, Payments1, PaymentService } from "../fixtures.ts";
const AuditedOrders = role("audited-orders", { provides: { api: Orders1 }, requires: { payments: Payments1, inventory: Inventory1, audit: Payments1 }, image: "images/audited" });
const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const audited = process.env.AUDIT === "1";
// @expect TS2345
await farm.vm(audited ? AuditedOrders : OrderService, { payments: pay.api, inventory: inv.api });
