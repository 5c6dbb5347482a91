// A route prefix with a ".." segment.
import { farm, PaymentService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
// @expect TS2345
await farm.route({ "/shop/../payments": pay.api });
