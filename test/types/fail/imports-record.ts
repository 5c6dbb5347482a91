// A Record of endpoints has no known import names and no known contracts.
import type { Endpoint } from "../../../control/contracts/index.ts";
import { farm, InventoryService, OrderService, PaymentService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const byName: Record<string, Endpoint> = { payments: pay.api, inventory: inv.api };
// @expect TS2345
await farm.vm(OrderService, byName);
