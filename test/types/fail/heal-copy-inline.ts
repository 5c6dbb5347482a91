// A copy of a VM handle, written inline in the list given to heal.
import { farm, InventoryService, PaymentService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
// @expect TS2345
farm.heal([inv, { ...pay, id: "vm-9999" }]);
