// A routed part whose contract is a union (an endpoint chosen by a condition).
import { farm, LedgerService, PaymentService } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const ledger = await farm.vm(LedgerService, {});
const money = Math.random() < 0.5 ? pay.api : ledger.api;
// @expect TS2345
await farm.route({ "/money": money });
