// A list grown with push takes the union of what was pushed: two contracts behind one balancer.
import { farm, InventoryService, LedgerService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const ledger = await farm.vm(LedgerService, {});
const backends = [];
backends.push(pay.api);
backends.push(ledger.api);
// @expect TS2345
await farm.balance(backends);
