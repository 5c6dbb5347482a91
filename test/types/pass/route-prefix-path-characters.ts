// Route prefixes with the characters a URL path may hold besides letters and digits (":", "@", "%" of
// an escape, sub-delims), as the balancer's router takes them and the run against the plan does too.
import { farm, InventoryService, PaymentService } from "../fixtures.ts";

const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
await farm.route({ "/v1:payments@2": pay.api, "/stock;v=2/caf%C3%A9": inv.api });
await farm.route({ "/~ops/!$&'()*+,=-._": inv.api });
