// balance takes endpoints: VM handles are refused.
import { farm, InventoryService, LedgerService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";
const pays = await farm.replicate(2, PaymentService, {});
// @expect TS2345
await farm.balance(pays);
