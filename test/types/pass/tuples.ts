// Tuples: destructured replicas, readonly tuples given to balance and heal.
import { farm, InventoryService, OrderService, PaymentService } from "../fixtures.ts";

const [first, second] = await farm.replicate(2, PaymentService, {});
const payments = await farm.balance([first.api, second.api] as const);
const pair = [await farm.vm(InventoryService, {}), await farm.vm(InventoryService, {})] as const;
const inventory = await farm.failover(pair[0].api, pair[1].api);
const [a, b, c] = await farm.replicate(3, OrderService, { payments, inventory });
const orders = await farm.balance([a.api, b.api, c.api]);
farm.heal([first, second, ...pair] as const);
const ends: readonly [typeof a.api, typeof b.api] = [a.api, b.api];
await farm.balance(ends);
void orders;
