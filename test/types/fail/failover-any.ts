// One end of a failover typed any, the other of a known contract.
import { farm, LedgerService, PaymentService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const ledger = await farm.vm(LedgerService, {});
const loose = ledger.api as any;
// @expect TS2345
await farm.failover(loose, pay.api);
