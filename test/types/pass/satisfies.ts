// satisfies: imports checked where they are written, a script checked against the script type.
import type { ImportsOf } from "../../../control/contracts/index.ts";
import type { FarmScript } from "../../../control/farm/script.ts";
import type { BalanceOptions } from "../../../control/farm/farm.ts";
import { farm, InventoryService, OrderService, PaymentService } from "../fixtures.ts";

const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const imports = { payments: pay.api, inventory: inv.api } satisfies ImportsOf<typeof OrderService>;
const options = { policy: "least-request", name: "orders" } satisfies BalanceOptions;
const orders = await farm.replicate(2, OrderService, imports);
const front = await farm.balance(orders.map((o) => o.api), options);

export default (async (f) => {
  const p = await f.vm(PaymentService, {});
  const i = await f.vm(InventoryService, {});
  const o = await f.replicate(2, OrderService, { payments: p.api, inventory: i.api });
  return { orders: await f.balance(o.map((x) => x.api)) };
}) satisfies FarmScript;
void front;
