// A class that keeps the farm and builds parts of it; its methods' types are inferred.
import type { Endpoint } from "../../../control/contracts/index.ts";
import type { Farm } from "../../../control/farm/farm.ts";
import { farm, InventoryService, OrderService, type Payments1, PaymentService, WebFrontend } from "../fixtures.ts";

class Shop {
  readonly #farm: Farm;
  constructor(f: Farm) {
    this.#farm = f;
  }
  async payments() {
    return (await this.#farm.vm(PaymentService, {})).api;
  }
  async orders(payments: Endpoint<typeof Payments1>, n = 2) {
    const inventory = (await this.#farm.vm(InventoryService, {})).api;
    return this.#farm.replicate(n, OrderService, { payments, inventory });
  }
}
const shop = new Shop(farm);
const orders = await shop.orders(await shop.payments(), 3);
await farm.vm(WebFrontend, { orders: await farm.balance(orders.map((o) => o.api)) });
