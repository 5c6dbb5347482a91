// A prefix chosen by a condition, one of which is not a path.
import { farm, InventoryService, LedgerService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const prefix = process.env.BARE === "1" ? "payments" : "/payments";
// @expect TS2345
await farm.route({ [prefix]: pay.api });
