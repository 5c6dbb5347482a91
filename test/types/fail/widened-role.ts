// A role typed AnyRole: its imports are not known, so nothing could be checked.
import type { AnyRole } from "../../../control/contracts/index.ts";
import { farm, OrderService, PaymentService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const anyRole: AnyRole = OrderService;
// @expect TS2345
await farm.vm(anyRole, { payments: pay.api });
