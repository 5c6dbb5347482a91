// A VM handle spread into the imports brings its own fields along (id, name, api, ...).
import { farm, InventoryService, LedgerService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
// @expect TS2345
await farm.vm(OrderService, { ...pay, payments: pay.api, inventory: inv.api });
