// Imports assembled with Object.assign carry an extra import.
import { farm, InventoryService, OrderService, PaymentService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const wiring = Object.assign({ payments: pay.api, inventory: inv.api }, { ledger: pay.api });
// @expect TS2345
await farm.replicate(2, OrderService, wiring);
