// VMs of roles read from a list of roles: their endpoints serve one of several contracts.
import { farm, LedgerService, PaymentService } from "../fixtures.ts";
const roles = [PaymentService, LedgerService];
const a = await farm.vm(roles[0], {});
const b = await farm.vm(roles[1], {});
// @expect TS2345
await farm.failover(a.api, b.api);
