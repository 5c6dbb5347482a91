// Zero replicas.
import { farm, PaymentService } from "../fixtures.ts";
// @expect TS2345
await farm.replicate(0, PaymentService, {});
