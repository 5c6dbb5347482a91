// Imports typed Partial of the role's: one may be missing, so they are refused.
import type { ImportsOf } from "../../../control/contracts/index.ts";
import { farm, InventoryService, LedgerService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const wiring: Partial<ImportsOf<typeof OrderService>> = { payments: pay.api };
// @expect TS2345
await farm.replicate(2, OrderService, wiring);
