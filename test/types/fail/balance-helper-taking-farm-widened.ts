// A helper that takes the Farm and declares it returns some endpoint: the contract is lost, balance refuses it.
import type { AnyEndpoint } from "../../../control/contracts/index.ts";
import type { Farm } from "../../../control/farm/farm.ts";
import { farm, InventoryService, LedgerService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";
async function someService(f: Farm): Promise<AnyEndpoint> {
  return (await f.vm(PaymentService, {})).api;
}
// @expect TS2345
await farm.balance([await someService(farm), await someService(farm)]);
