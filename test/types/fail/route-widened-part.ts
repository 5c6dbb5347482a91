// A routed part typed with the default contract.
import type { Endpoint } from "../../../control/contracts/index.ts";
import { farm, PaymentService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const general: Endpoint = pay.api;
// @expect TS2345
await farm.route({ "/payments": general });
