// A farm script as a module: its default export is a FarmScript, returning endpoints to show.
import type { Farm } from "../../../control/farm/farm.ts";
import type { FarmScript } from "../../../control/farm/script.ts";
import { InventoryService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";

const script: FarmScript = async (farm: Farm) => {
  const pay = await farm.vm(PaymentService, {});
  const inv = await farm.vm(InventoryService, {});
  const orders = await farm.replicate(2, OrderService, { payments: pay.api, inventory: inv.api });
  const front = await farm.balance(orders.map((o) => o.api));
  await farm.vm(WebFrontend, { orders: front });
  return { orders: front };
};
export default script;
export const quiet: FarmScript = async (farm) => {
  farm.heal([await farm.vm(PaymentService, {})]);
};
