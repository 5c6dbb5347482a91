// Imports filled from Promise.all of vm calls, in the wrong order: each keeps its role's contract.
import { farm, InventoryService, LedgerService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";
const [inv, pay] = await Promise.all([farm.vm(InventoryService, {}), farm.vm(PaymentService, {})]);
// @expect TS2322 TS2322
await farm.vm(OrderService, { payments: inv.api, inventory: pay.api });
