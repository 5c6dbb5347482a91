// A generic wrapper that returns the endpoint widened to AnyEndpoint: no contract is left to match.
import type { AnyEndpoint } from "../../../control/contracts/index.ts";
import { farm, InventoryService, LedgerService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";
const logged = <E extends AnyEndpoint>(e: E): AnyEndpoint => {
  console.log(e.label);
  return e;
};
const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
// @expect TS2322
await farm.vm(OrderService, { payments: logged(pay.api), inventory: inv.api });
