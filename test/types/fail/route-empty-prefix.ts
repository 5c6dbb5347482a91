// An empty route prefix.
import { farm, PaymentService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
// @expect TS2345
await farm.route({ "": pay.api });
