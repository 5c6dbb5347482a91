// An endpoint sent through JSON comes back typed any (and is no endpoint the farm made).
import { farm, InventoryService, LedgerService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
// @expect TS2345
await farm.vm(OrderService, { payments: JSON.parse(JSON.stringify(pay.api)), inventory: inv.api });
