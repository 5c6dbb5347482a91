// An endpoint copied with another URL: the copy does not keep the brand (a class-private field).
import { farm, PaymentService, InventoryService, OrderService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const elsewhere = { ...pay.api, url: "http://203.0.113.9:8080" };
// @expect TS2741
await farm.vm(OrderService, { payments: elsewhere, inventory: inv.api });
