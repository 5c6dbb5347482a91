// Endpoints typed with the default contract (Endpoint): which contract they serve is not known.
import type { Endpoint } from "../../../control/contracts/index.ts";
import { farm, InventoryService, PaymentService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const all: Endpoint[] = [pay.api, inv.api];
// @expect TS2345
await farm.balance(all);
