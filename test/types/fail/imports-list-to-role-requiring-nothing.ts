// A list given as the imports of a role that requires nothing.
import { farm, PaymentService } from "../fixtures.ts";
// @expect TS2345
await farm.vm(PaymentService, []);
