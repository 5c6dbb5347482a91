// A balancer of payments@1 is a payments@1 endpoint, not an orders@1 one.
import { farm, PaymentService, WebFrontend } from "../fixtures.ts";

const pays = await farm.replicate(3, PaymentService, {});
const payApi = await farm.balance(pays.map((p) => p.api));
// @expect TS2322
await farm.vm(WebFrontend, { orders: payApi });
