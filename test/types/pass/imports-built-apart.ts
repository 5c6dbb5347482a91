// Imports built beforehand, spread from parts, or typed ImportsOf: exact, so all fine.
import type { ImportsOf } from "../../../control/contracts/index.ts";
import { farm, InventoryService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";

const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const money = { payments: pay.api };
const orders = await farm.vm(OrderService, { ...money, inventory: inv.api });
const wiring = { payments: pay.api, inventory: inv.api };
await farm.replicate(2, OrderService, wiring);
const typed: ImportsOf<typeof WebFrontend> = { orders: orders.api };
await farm.vm(WebFrontend, typed);
const none = {};
await farm.vm(PaymentService, none);
