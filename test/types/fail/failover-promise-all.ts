// VMs made together with Promise.all keep their roles: a failover across two contracts is refused.
import { farm, InventoryService, LedgerService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";
const [pay, ledger] = await Promise.all([farm.vm(PaymentService, {}), farm.vm(LedgerService, {})]);
// @expect TS2345
await farm.failover(pay.api, ledger.api);
