// A small helper returns Endpoint, so the endpoints' contract is lost: balance refuses them.
import type { Endpoint } from "../../../control/contracts/index.ts";
import type { AnyVm } from "../../../control/farm/farm.ts";
import { farm, LedgerService, PaymentService } from "../fixtures.ts";
function apiOf(vm: AnyVm): Endpoint {
  return (vm as unknown as { api: Endpoint }).api;
}
const pay = await farm.vm(PaymentService, {});
const ledger = await farm.vm(LedgerService, {});
// @expect TS2345
await farm.balance([apiOf(pay), apiOf(ledger)]);
