// Naming a union of contracts explicitly does not get past SameContract: the list becomes `never`.
import { farm, Payments1, PaymentService, Ledger1, LedgerService } from "../fixtures.ts";

const pay = await farm.vm(PaymentService, {});
const ledger = await farm.vm(LedgerService, {});
// @expect TS2345
await farm.balance<typeof Payments1 | typeof Ledger1>([pay.api, ledger.api]);
