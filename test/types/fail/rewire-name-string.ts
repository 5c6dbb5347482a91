// An import name typed string: which import is rewired is not known.
import { farm, InventoryService, LedgerService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const order = await farm.vm(OrderService, { payments: pay.api, inventory: inv.api });
const name: string = process.env.IMPORT ?? "payments";
// @expect TS2345
await farm.rewire(order, name, pay.api);
