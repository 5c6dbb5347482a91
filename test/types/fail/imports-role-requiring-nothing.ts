// A role that requires nothing takes nothing: an object with imports left over from elsewhere is refused.
import { farm, InventoryService, PaymentService } from "../fixtures.ts";
const inv = await farm.vm(InventoryService, {});
const leftover = { inventory: inv.api };
// @expect TS2345
await farm.vm(PaymentService, leftover);
