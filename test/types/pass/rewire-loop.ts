// rewire in loops: over VMs, one import name at a time; over a list of names typed one by one; over
// names that want one contract.
import { role } from "../../../control/contracts/index.ts";
import { farm, InventoryService, OrderService, Orders1, Payments1, PaymentService } from "../fixtures.ts";

const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const orders = await farm.replicate(3, OrderService, { payments: pay.api, inventory: inv.api });
const newPay = await farm.balance((await farm.replicate(2, PaymentService, {})).map((p) => p.api));
for (const order of orders) await farm.rewire(order, "payments", newPay);
const moves = [["payments", newPay]] as const;
for (const [name, to] of moves) await farm.rewire(orders[0], name, to);
const Mirror = role("mirror", { provides: { api: Orders1 }, requires: { primary: Payments1, secondary: Payments1 }, image: "images/mirror" });
const mirror = await farm.vm(Mirror, { primary: pay.api, secondary: pay.api });
for (const name of ["primary", "secondary"] as const) await farm.rewire(mirror, name, newPay);
