// failover between two endpoints of one contract, and the result used as an import.

import { farm, InventoryService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";

const primary = await farm.vm(PaymentService, {});
const backup = await farm.vm(PaymentService, {});
const payments = await farm.failover(primary.api, backup.api);
const inventory = await farm.failover((await farm.vm(InventoryService, {})).api, (await farm.vm(InventoryService, {})).api);
const orders = await farm.vm(OrderService, { payments, inventory });
await farm.vm(WebFrontend, { orders: await farm.failover(orders.api, orders.api) });
