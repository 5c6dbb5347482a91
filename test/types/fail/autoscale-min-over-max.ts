// min above max, both written as numbers, does not compile.
import { farm, PaymentService } from "../fixtures.ts";

const pays = await farm.replicate(2, PaymentService, {});
await farm.balance(pays.map((p) => p.api));
// @expect TS2769
farm.autoscale(pays, { demand: { metric: { kind: "request-rate" }, target: 100 }, min: 5, max: 3 });
