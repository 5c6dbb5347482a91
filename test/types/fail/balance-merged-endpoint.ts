// An endpoint merged from two (type never) given alone to balance.
import { farm, LedgerService, PaymentService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const ledger = await farm.vm(LedgerService, {});
const merged = Object.assign({}, pay.api, ledger.api);
// @expect TS2345
await farm.balance([merged]);
