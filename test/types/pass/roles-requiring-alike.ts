// A loop over roles, or a role chosen by a condition, is fine when every role takes the same imports.
import { farm, InventoryService, LedgerService, PaymentService } from "../fixtures.ts";

const started = [];
for (const role of [PaymentService, LedgerService, InventoryService]) started.push(await farm.vm(role, {}));
const money = await farm.vm(process.env.LEDGER === "1" ? LedgerService : PaymentService, {});
farm.heal([...started, money]);
