// A role made by a helper typed with plain strings and Contracts: its name and imports are lost.
import { type Contracts, role } from "../../../control/contracts/index.ts";
import { farm, InventoryService, Orders1, Payments1 } from "../fixtures.ts";
function serviceRole(name: string, requires: Contracts) {
  return role(name, { provides: { api: Orders1 }, requires, image: `images/${name}` });
}
const Orders = serviceRole("orders", { payments: Payments1 });
const inv = await farm.vm(InventoryService, {});
// @expect TS2345
await farm.vm(Orders, { payments: inv.api });
