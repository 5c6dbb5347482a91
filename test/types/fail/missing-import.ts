// OrderService requires payments and inventory; inventory is left out.
import { farm, OrderService, PaymentService } from "../fixtures.ts";

const pay = await farm.vm(PaymentService, {});
// @expect TS2741
await farm.vm(OrderService, { payments: pay.api });
