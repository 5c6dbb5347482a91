// A role looked up by key among roles that take the same imports, a count that is one of several
// whole numbers, VMs kept as Vm<AnyRole> and filtered, a handle replaced by the one rewire returns.
import type { AnyRole } from "../../../control/contracts/index.ts";
import type { AnyVm, Vm } from "../../../control/farm/farm.ts";
import { farm, InventoryService, LedgerService, OrderService, PaymentService } from "../fixtures.ts";

const money = { payments: PaymentService, ledger: LedgerService } as const;
const kind = (process.env.KIND ?? "payments") as keyof typeof money;
const picked = await farm.vm(money[kind], {});
const replicas: 1 | 2 | 3 = process.env.BIG === "1" ? 3 : 2;
const pays = await farm.replicate(replicas, PaymentService, {});
const all: Vm<AnyRole>[] = [picked, ...pays, await farm.vm(InventoryService, {})];
const byName = new Map<string, AnyVm>(all.map((v) => [v.name, v]));
farm.heal(all.filter((v) => v.role.name === "payments"));
farm.heal([...byName.values()]);
const inv = await farm.vm(InventoryService, {});
let order = await farm.vm(OrderService, { payments: pays[0].api, inventory: inv.api });
order = await farm.rewire(order, "payments", await farm.balance(pays.map((p) => p.api)));
farm.heal([order]);
