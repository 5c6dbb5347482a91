// Route prefixes holding what the balancer routes on no request path by: a character outside ASCII (a
// path carries it %-escaped), a query.
import { farm, InventoryService, PaymentService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
// @expect TS2345
await farm.route({ "/stock/café": inv.api });
// @expect TS2345
await farm.route({ "/payments?v=2": pay.api });
