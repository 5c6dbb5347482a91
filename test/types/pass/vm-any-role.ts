// Vm<AnyRole> and AnyVm take any VM: helpers that only keep handles need no role.
import type { AnyRole } from "../../../control/contracts/index.ts";
import type { AnyVm, Vm } from "../../../control/farm/farm.ts";
import { farm, InventoryService, PaymentService } from "../fixtures.ts";

const everything: Vm<AnyRole>[] = [];
everything.push(await farm.vm(PaymentService, {}));
everything.push(await farm.vm(InventoryService, {}));
const names = (vms: readonly Vm<AnyRole>[]) => vms.map((v) => `${v.name} (${v.role.name})`);
const keep: readonly AnyVm[] = everything;
farm.heal(everything);
farm.heal(keep);
console.log(names(everything));
