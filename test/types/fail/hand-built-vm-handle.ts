// A VM handle written by hand, with every run-time field right, lacks the brand a farm's handle has.
import { farm, PaymentService } from "../fixtures.ts";

const pay = await farm.vm(PaymentService, {});
const fake = { id: "x", name: "payments-9", role: PaymentService, address: { host: "127.0.0.1", port: 8080 }, api: pay.api };
// @expect TS2741
farm.heal([fake]);
