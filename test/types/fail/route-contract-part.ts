// route takes endpoints, not contracts.
import { farm, Orders1, PaymentService } from "../fixtures.ts";

const pay = await farm.vm(PaymentService, {});
// @expect TS2739
await farm.route({ "/orders": Orders1, "/payments": pay.api });
