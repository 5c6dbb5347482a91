// A provided endpoint that does not exist: PaymentService provides "api".
import { farm, InventoryService, OrderService, PaymentService } from "../fixtures.ts";

const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
// @expect TS2551
await farm.vm(OrderService, { payments: pay.apii, inventory: inv.api });
