// OrderService: places an order by reserving inventory, then charging payment; keeps orders in memory.
// Every answer carries `x-served-by: <vm>` (the kit adds it), so a balancer's spread is visible.

import type { Static } from "typebox";
import { HttpError, reply, service, start } from "farmhand/service";
import type { Order } from "../contracts.ts";
import { OrderService } from "../roles.ts";

/** Unit prices in cents. */
const PRICES: Readonly<Record<string, number>> = { widget: 250, gadget: 1299, gizmo: 4999, doohickey: 75 };

const svc = service(OrderService);
const { payments, inventory } = svc.imports;
const orders = new Map<string, Static<typeof Order>>();
let next = 1;

svc.provide("api", {
  place: async ({ body, signal }) => {
    const price = PRICES[body.item];
    if (price === undefined) throw new HttpError(404, `unknown item ${JSON.stringify(body.item)}`);
    const total = price * body.quantity;
    const orderId = `${svc.env.vm}-${next++}`;

    const reservation = (await inventory.reserve({ item: body.item, quantity: body.quantity }, { signal })).body;
    if (!reservation.reserved) {
      throw new HttpError(409, `out of stock: ${body.quantity} ${body.item} wanted, ${reservation.remaining} left`);
    }
    let charge;
    try {
      charge = (await payments.charge({ orderId, amount: total }, { signal })).body;
    } catch (err) {
      await inventory.release({ item: body.item, quantity: body.quantity }).catch(() => {});
      throw err;
    }
    const status = charge.approved ? "confirmed" : "declined";
    orders.set(orderId, { orderId, item: body.item, quantity: body.quantity, status, total, paymentId: charge.paymentId });
    if (!charge.approved) {
      await inventory.release({ item: body.item, quantity: body.quantity });
      throw new HttpError(402, `payment declined for order ${orderId}: ${charge.reason ?? "no reason given"}`, { orderId, total, status });
    }
    return reply(201, { orderId, status, total });
  },
  get: ({ params }) => {
    const order = orders.get(params.id);
    if (order === undefined) throw new HttpError(404, `no order ${JSON.stringify(params.id)} on ${svc.env.vm}`);
    return order;
  },
  list: () => ({ orders: [...orders.values()] }),
});

await start(svc);
