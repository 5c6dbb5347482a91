// A helper that takes the Farm and returns an endpoint: its type is inferred, so the wrong one is seen.
import type { Farm } from "../../../control/farm/farm.ts";
import { farm, InventoryService, LedgerService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";
async function moneyService(f: Farm) {
  return (await f.vm(LedgerService, {})).api;
}
const inv = await farm.vm(InventoryService, {});
// @expect TS2322
await farm.vm(OrderService, { payments: await moneyService(farm), inventory: inv.api });
