// failover between endpoints of two contracts (same operations, other id).
import { farm, LedgerService, PaymentService } from "../fixtures.ts";

const pay = await farm.vm(PaymentService, {});
const ledger = await farm.vm(LedgerService, {});
// @expect TS2345
await farm.failover(pay.api, ledger.api);
