// heal: replicas of one role, one call per role (a heal group is one role: see fail/heal-mixed-roles.ts).

import type { Vm } from "../../../control/farm/farm.ts";
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
