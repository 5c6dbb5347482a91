// A negative replica count.
import { farm, PaymentService } from "../fixtures.ts";
// @expect TS2345
await farm.replicate(-2, PaymentService, {});
