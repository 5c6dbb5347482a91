// failover given a union of contracts as its type argument.
import { farm, type Ledger1, LedgerService, type Payments1, PaymentService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const ledger = await farm.vm(LedgerService, {});
// @expect TS2345
await farm.failover<typeof Payments1 | typeof Ledger1>(pay.api, ledger.api);
