// heal: any VMs the farm made, of one role or several (each role backs off on its own).

import type { AnyVm, Vm } from "../../../control/farm/farm.ts";
import { farm, InventoryService, OrderService, PaymentService } from "../fixtures.ts";

const pays = await farm.replicate(2, PaymentService, {});
const extra = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const orders = await farm.replicate(3, OrderService, { payments: await farm.balance([...pays, extra].map((p) => p.api)), inventory: inv.api });

farm.heal([...pays, extra]);
farm.heal([inv]);
farm.heal(orders);
const group: readonly Vm<typeof OrderService>[] = orders.slice(1);
farm.heal(group);
farm.heal([]);
// Several roles in one call.
farm.heal([inv, ...pays, ...orders]);
const everything: AnyVm[] = [inv, ...orders];
farm.heal(everything);
