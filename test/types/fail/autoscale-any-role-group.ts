// A group typed Vm<AnyRole>[]: its role is not known, so no policy can be held to it.
import type { AnyRole } from "../../../control/contracts/index.ts";
import type { Vm } from "../../../control/farm/farm.ts";
import { farm, InventoryService, LedgerService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";
const pays = await farm.replicate(2, PaymentService, {});
await farm.balance(pays.map((p) => p.api));
const group: Vm<AnyRole>[] = pays;
// @expect TS2769
farm.autoscale(group, { demand: { metric: { kind: "request-rate" }, target: 100 }, min: 1, max: 4 });
