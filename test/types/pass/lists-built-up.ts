// Lists of endpoints built up step by step: pushed into a typed list, into a list typed by what was
// pushed, kept in a Map by name.
import type { Endpoint } from "../../../control/contracts/index.ts";
import { farm, InventoryService, OrderService, type Orders1, type Payments1, PaymentService, WebFrontend } from "../fixtures.ts";

const typed: Endpoint<typeof Payments1>[] = [];
for (let n = 0; n < 3; n++) typed.push((await farm.vm(PaymentService, {})).api);
const payments = await farm.balance(typed);

const grown = [];
grown.push((await farm.vm(InventoryService, {})).api);
grown.push((await farm.vm(InventoryService, {})).api);
const inventory = await farm.balance(grown);

const byZone = new Map<string, Endpoint<typeof Orders1>>();
for (const zone of ["a", "b"]) {
  const replicas = await farm.replicate(2, OrderService, { payments, inventory });
  byZone.set(zone, await farm.balance(replicas.map((o) => o.api)));
}
await farm.vm(WebFrontend, { orders: byZone.get("a")! });
await farm.vm(WebFrontend, { orders: await farm.balance([...byZone.values()]) });
