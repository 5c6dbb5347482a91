// "id" is a name a VM handle uses itself (vm.id); a role may not provide an endpoint under it.
import { role } from "../../../control/contracts/index.ts";
import { Payments1 } from "../fixtures.ts";

// @expect TS2322
export const Bad = role("bad-payments", { provides: { id: Payments1 }, requires: {}, image: "images/payments" });
