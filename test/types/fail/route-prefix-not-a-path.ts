// A route prefix that is not a path (no leading "/").
import { farm, PaymentService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
// @expect TS2345
await farm.route({ payments: pay.api });
