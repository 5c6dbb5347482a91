// orders@2 has the same operations as orders@1, but the web frontend requires version 1.
import { farm, OrdersV2Service, WebFrontend } from "../fixtures.ts";

const v2 = await farm.vm(OrdersV2Service, {});
// @expect TS2322
await farm.vm(WebFrontend, { orders: v2.api });
