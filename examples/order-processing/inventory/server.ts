// InventoryService: stock per item, in memory, seeded at start.

import { HttpError, service, start } from "farmhand/service";
import { InventoryService } from "../roles.ts";

const stock = new Map<string, number>([
  ["widget", 100],
  ["gadget", 25],
  ["gizmo", 10],
  ["doohickey", 3],
]);

const svc = service(InventoryService);

const known = (item: string): number => {
  const n = stock.get(item);
  if (n === undefined) throw new HttpError(404, `unknown item ${JSON.stringify(item)}`);
  return n;
};

svc.provide("api", {
  reserve: ({ body }) => {
    const remaining = known(body.item);
    if (remaining < body.quantity) return { reserved: false, remaining };
    stock.set(body.item, remaining - body.quantity);
    return { reserved: true, remaining: remaining - body.quantity };
  },
  release: ({ body }) => {
    const remaining = known(body.item) + body.quantity;
    stock.set(body.item, remaining);
    return { remaining };
  },
  stock: ({ params }) => ({ item: params.item, remaining: known(params.item) }),
});

await start(svc);
