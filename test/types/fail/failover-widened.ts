// failover between endpoints typed with the default contract.
import type { Endpoint } from "../../../control/contracts/index.ts";
import { farm, LedgerService, PaymentService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const ledger = await farm.vm(LedgerService, {});
const primary: Endpoint = pay.api;
const backup: Endpoint = ledger.api;
// @expect TS2345
await farm.failover(primary, backup);
