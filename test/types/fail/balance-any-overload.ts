// A helper's fallback overload returns any: endpoints typed any are not checked, so refused.
import type { Endpoint } from "../../../control/contracts/index.ts";
import type { AnyVm, Vm } from "../../../control/farm/farm.ts";
import { farm, LedgerService, type Payments1, PaymentService } from "../fixtures.ts";
function api(vm: Vm<typeof PaymentService>): Endpoint<typeof Payments1>;
function api(vm: AnyVm): any;
function api(vm: AnyVm): unknown {
  return (vm as unknown as { api: unknown }).api;
}
const ledger = await farm.vm(LedgerService, {});
// @expect TS2345
await farm.balance([api(ledger), api(ledger)]);
