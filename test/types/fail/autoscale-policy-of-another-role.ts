// A policy made for one role's groups does not fit another role's group.
import { autoscalePolicy } from "../../../control/autoscale/policy.ts";
import { farm, InventoryService, PaymentService } from "../fixtures.ts";

const pays = await farm.replicate(2, PaymentService, {});
await farm.balance(pays.map((p) => p.api));
const forInventory = autoscalePolicy(InventoryService, { demand: { metric: { kind: "request-rate" }, target: 100 }, min: 1, max: 4 });
// @expect TS2769
farm.autoscale(pays, forInventory);
