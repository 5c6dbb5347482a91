// The endpoint of a VM whose role was chosen by a condition serves one of two contracts: not one contract.
import { farm, LedgerService, PaymentService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const either = await farm.vm(process.env.LEDGER === "1" ? LedgerService : PaymentService, {});
// @expect TS2345
await farm.balance([either.api, pay.api]);
