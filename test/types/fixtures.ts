// A small typed environment, shaped like a generated one: contracts, roles, and a farm for the
// scripts in pass/ and fail/ to wire. Nothing here runs a VM; the corpus is only type-checked.

import Type from "typebox";
import { contract, role } from "../../control/contracts/index.ts";
import type { Farm } from "../../control/farm/farm.ts";

const Order = Type.Object({ id: Type.String(), items: Type.Array(Type.String()), total: Type.Number() });
const orderOps = {
  place: { method: "POST", path: "/orders", request: Type.Object({ items: Type.Array(Type.String()) }), response: Order },
  get: { method: "GET", path: "/orders/{id}", request: Type.Null(), response: Order },
} as const;

const paymentOps = {
  pay: { method: "POST", path: "/payments", request: Type.Object({ order: Type.String(), amount: Type.Number() }), response: Type.Object({ receipt: Type.String() }) },
  refund: { method: "POST", path: "/refunds", request: Type.Object({ receipt: Type.String() }), response: Type.Object({ ok: Type.Boolean() }) },
} as const;

export const Orders1 = contract("orders@1", orderOps);
/** Same operations as orders@1, another version: never interchangeable with it. */
export const Orders2 = contract("orders@2", orderOps);
export const Payments1 = contract("payments@1", paymentOps);
/** A look-alike: exactly the operations of payments@1, another contract. */
export const Ledger1 = contract("ledger@1", paymentOps);
export const Inventory1 = contract("inventory@1", {
  reserve: { method: "POST", path: "/reservations", request: Type.Object({ sku: Type.String(), count: Type.Integer() }), response: Type.Object({ reserved: Type.Boolean() }) },
  stock: { method: "GET", path: "/stock/{sku}", request: Type.Null(), response: Type.Object({ count: Type.Integer() }) },
});

export const PaymentService = role("payments", { provides: { api: Payments1 }, requires: {}, image: "images/payments" });
export const LedgerService = role("ledger", { provides: { api: Ledger1 }, requires: {}, image: "images/ledger" });
export const InventoryService = role("inventory", { provides: { api: Inventory1 }, requires: {}, image: "images/inventory" });
export const OrderService = role("orders", {
  provides: { api: Orders1 },
  requires: { payments: Payments1, inventory: Inventory1 },
  image: "images/orders",
});
export const WebFrontend = role("web", { provides: {}, requires: { orders: Orders1 }, image: "images/web" });
export const OrdersV2Service = role("orders-v2", { provides: { api: Orders2 }, requires: {}, image: "images/orders-v2" });

/** The farm the scripts drive. */
export declare const farm: Farm;
