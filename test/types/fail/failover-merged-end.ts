// One end of a failover merged from two endpoints (type never, which any parameter accepts): refused at the other end.
import { farm, LedgerService, PaymentService } from "../fixtures.ts";

const pay = await farm.vm(PaymentService, {});
const ledger = await farm.vm(LedgerService, {});
const merged = Object.assign({}, pay.api, ledger.api);
// @expect TS2345
await farm.failover(merged, pay.api);
