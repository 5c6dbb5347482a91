// Imports typed as the role's plus any other names: extra imports could ride along.
import type { AnyEndpoint, ImportsOf } from "../../../control/contracts/index.ts";
import { farm, InventoryService, LedgerService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const wiring: ImportsOf<typeof OrderService> & Record<string, AnyEndpoint> = { payments: pay.api, inventory: inv.api };
// @expect TS2345
await farm.vm(OrderService, wiring);
