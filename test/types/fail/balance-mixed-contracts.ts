// One balancer in front of two contracts.
import { farm, InventoryService, PaymentService } from "../fixtures.ts";

const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
// @expect TS2322
await farm.balance([pay.api, inv.api]);
