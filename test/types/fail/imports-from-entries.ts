// Imports built with Object.fromEntries: their names and contracts are lost.
import { farm, InventoryService, LedgerService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const wiring = Object.fromEntries([["payments", pay.api], ["inventory", inv.api]]);
// @expect TS2345
await farm.vm(OrderService, wiring);
