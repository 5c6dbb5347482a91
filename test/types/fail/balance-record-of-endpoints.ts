// Endpoints read from a Record of endpoints have a general contract: not one contract.
import type { AnyEndpoint } from "../../../control/contracts/index.ts";
import { farm, LedgerService, PaymentService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const ledger = await farm.vm(LedgerService, {});
const byName: Record<string, AnyEndpoint> = { pay: pay.api, ledger: ledger.api };
// @expect TS2345
await farm.balance([byName.pay, byName.ledger]);
