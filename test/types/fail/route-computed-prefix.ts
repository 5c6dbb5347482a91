// A prefix computed from a string: the compiler knows no prefix, so none can be checked.
import { farm, InventoryService, LedgerService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const service: string = process.env.SERVICE ?? "payments";
// @expect TS2345
await farm.route({ [`/${service}`]: pay.api });
