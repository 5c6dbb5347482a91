// Any value given to a role that requires nothing is not {}: here an endpoint stands where the imports go.
import { farm, InventoryService, PaymentService } from "../fixtures.ts";
const inv = await farm.vm(InventoryService, {});
// @expect TS2345
await farm.vm(PaymentService, inv.api);
