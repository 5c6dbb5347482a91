// A replica count that is not a whole number.
import { farm, PaymentService } from "../fixtures.ts";
// @expect TS2345
await farm.replicate(1.5, PaymentService, {});
