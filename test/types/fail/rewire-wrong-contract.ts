// rewire keeps the import's contract: a web frontend's orders@1 import cannot be pointed at orders@2.
import type { Vm } from "../../../control/farm/farm.ts";
import { farm, OrdersV2Service, type WebFrontend } from "../fixtures.ts";

declare const web: Vm<typeof WebFrontend>;
const v2 = await farm.vm(OrdersV2Service, {});
// @expect TS2345
await farm.rewire(web, "orders", v2.api);
