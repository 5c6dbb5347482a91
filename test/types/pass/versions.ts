// Versions and look-alikes live side by side, each wired only to its own contract; imports can be
// built ahead of time as ImportsOf<role>.

import type { Endpoint, ImportsOf, ResponseOf } from "../../../control/contracts/index.ts";
import type { FarmEvent } from "../../../control/farm/farm.ts";
import { farm, InventoryService, LedgerService, Orders2, OrdersV2Service, OrderService, PaymentService } from "../fixtures.ts";

const v2 = await farm.replicate(2, OrdersV2Service, {});
const v2Api: Endpoint<typeof Orders2> = await farm.balance(v2.map((o) => o.api));
const ledger = await farm.vm(LedgerService, {});
const ledgerApi = await farm.failover(ledger.api, ledger.api);

const imports: ImportsOf<typeof OrderService> = {
  payments: (await farm.vm(PaymentService, {})).api,
  inventory: (await farm.vm(InventoryService, {})).api,
};
const v1 = await farm.vm(OrderService, imports);
const order: ResponseOf<typeof Orders2, "get"> = { id: "o-1", items: ["apple"], total: 3 };
const events: FarmEvent[] = [];
const off = farm.on((e) => events.push(e));
off();
void v2Api, ledgerApi, v1, order;
