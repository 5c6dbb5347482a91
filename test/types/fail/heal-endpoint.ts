// heal takes VM handles, not endpoints.
import { farm, InventoryService, LedgerService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
// @expect TS2739
farm.heal([pay.api]);
