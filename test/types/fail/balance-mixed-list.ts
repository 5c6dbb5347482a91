// The same mistake with the list built beforehand: an array of two contracts is refused as a whole.
import { farm, LedgerService, PaymentService } from "../fixtures.ts";

const pays = await farm.replicate(2, PaymentService, {});
const ledger = await farm.vm(LedgerService, {});
const backends = [...pays.map((p) => p.api), ledger.api];
// @expect TS2345
await farm.balance(backends);
