// The contracts of the order-processing example. Amounts are integer cents (no floating point money).
// Schemas are closed (additionalProperties: false) so a misspelt field is a 400, not silently ignored.

import Type from "typebox";
import { contract } from "../../control/contracts/index.ts";

const closed = { additionalProperties: false } as const;

/** A catalogue item, e.g. "widget". */
export const Item = Type.String({ pattern: "^[a-z][a-z0-9-]{0,31}$", description: "item name, e.g. widget" });
export const Quantity = Type.Integer({ minimum: 1, maximum: 1000 });
/** Money in integer cents. */
export const Cents = Type.Integer({ minimum: 0, maximum: 100_000_000 });
export const OrderId = Type.String({ pattern: "^[A-Za-z0-9._-]{1,64}$" });
export const OrderStatus = Type.Union([Type.Literal("confirmed"), Type.Literal("declined")]);
const NoBody = Type.Null();

export const Order = Type.Object(
  { orderId: OrderId, item: Item, quantity: Quantity, status: OrderStatus, total: Cents, paymentId: Type.String() },
  closed,
);

export const orders = contract("orders@1", {
  place: {
    method: "POST",
    path: "/orders",
    request: Type.Object({ item: Item, quantity: Quantity }, closed),
    response: Type.Object({ orderId: OrderId, status: OrderStatus, total: Cents }, closed),
  },
  get: { method: "GET", path: "/orders/{id}", request: NoBody, response: Order },
  list: { method: "GET", path: "/orders", request: NoBody, response: Type.Object({ orders: Type.Array(Order) }, closed) },
});

export const payments = contract("payments@1", {
  charge: {
    method: "POST",
    path: "/payments/charge",
    request: Type.Object({ orderId: OrderId, amount: Cents }, closed),
    response: Type.Object(
      { paymentId: Type.String({ minLength: 1 }), approved: Type.Boolean(), reason: Type.Optional(Type.String()) },
      closed,
    ),
  },
});

export const inventory = contract("inventory@1", {
  /** Takes `quantity` off the stock if there is enough; `reserved: false` (and nothing taken) if not. */
  reserve: {
    method: "POST",
    path: "/inventory/reserve",
    request: Type.Object({ item: Item, quantity: Quantity }, closed),
    response: Type.Object({ reserved: Type.Boolean(), remaining: Type.Integer({ minimum: 0 }) }, closed),
  },
  /** Puts a reservation back (an order whose payment was declined). */
  release: {
    method: "POST",
    path: "/inventory/release",
    request: Type.Object({ item: Item, quantity: Quantity }, closed),
    response: Type.Object({ remaining: Type.Integer({ minimum: 0 }) }, closed),
  },
  stock: {
    method: "GET",
    path: "/inventory/{item}",
    request: NoBody,
    response: Type.Object({ item: Item, remaining: Type.Integer({ minimum: 0 }) }, closed),
  },
});

export const web = contract("web@1", {
  /** The HTML page (text/html). */
  page: { method: "GET", path: "/", request: NoBody, response: Type.String() },
  /** Takes a form post (application/x-www-form-urlencoded) or JSON; answers JSON. */
  checkout: {
    method: "POST",
    path: "/checkout",
    request: Type.Object({ item: Item, quantity: Quantity }, closed),
    response: Type.Object(
      { ok: Type.Literal(true), orderId: OrderId, status: OrderStatus, total: Cents, servedBy: Type.String() },
      closed,
    ),
  },
});
