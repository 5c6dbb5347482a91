// A role that requires nothing has no import to rewire.
import { farm, PaymentService } from "../fixtures.ts";

const pay = await farm.vm(PaymentService, {});
const other = await farm.vm(PaymentService, {});
// @expect TS2345
await farm.rewire(pay, "payments", other.api);
