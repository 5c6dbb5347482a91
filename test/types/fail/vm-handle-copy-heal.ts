// A VM handle copied with another name (a spread drops its readonly brand) given to heal.
import { farm, PaymentService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const other = { ...pay, name: "payments-9" };
// @expect TS2345
farm.heal([pay, other]);
