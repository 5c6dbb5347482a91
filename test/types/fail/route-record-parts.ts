// Parts from a Record: the prefixes are not known to the type checker.
import type { Endpoint } from "../../../control/contracts/index.ts";
import { farm, type Payments1, PaymentService } from "../fixtures.ts";
const pays = await farm.replicate(2, PaymentService, {});
const byPrefix: Record<string, Endpoint<typeof Payments1>> = { "/a": pays[0].api, "/b": pays[1].api };
// @expect TS2345
await farm.route(byPrefix);
