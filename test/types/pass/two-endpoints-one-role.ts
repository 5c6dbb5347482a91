// A role that provides two endpoints of two contracts: each is wired, balanced and routed as its own.
import { role } from "../../../control/contracts/index.ts";
import { farm, Ledger1, LedgerService, Payments1, PaymentService } from "../fixtures.ts";

const Dual = role("dual", { provides: { api: Payments1, books: Ledger1 }, requires: {}, image: "images/dual" });
const duals = await farm.replicate(2, Dual, {});
const payments = await farm.failover(duals[0].api, (await farm.vm(PaymentService, {})).api);
const books = await farm.balance([...duals.map((d) => d.books), (await farm.vm(LedgerService, {})).api]);
await farm.route({ "/pay": payments, "/books": books, "/direct": duals[1].api });
farm.heal(duals);
