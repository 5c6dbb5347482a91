// Parts built beforehand, one under a prefix that is not a path.
import { farm, InventoryService, PaymentService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const parts = { "/payments": pay.api, "inventory": inv.api };
// @expect TS2345
await farm.route(parts);
