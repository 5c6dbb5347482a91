// A routed part that is a Promise: an await is missing.
import { farm, InventoryService, LedgerService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";
const pays = await farm.replicate(2, PaymentService, {});
// @expect TS2739
await farm.route({ "/payments": farm.balance(pays.map((p) => p.api)) });
