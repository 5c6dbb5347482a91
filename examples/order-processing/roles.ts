// The roles of the order-processing example: what each image is for, what it provides and requires.
// Each role's image folder holds a farmhand.json manifest that says the same (the kit checks this at
// start-up, and test/example-services.test.ts checks it too).

import { fileURLToPath } from "node:url";
import { role } from "../../control/contracts/index.ts";
import { inventory, orders, payments, web } from "./contracts.ts";

const image = (folder: string): string => fileURLToPath(new URL(`./${folder}/`, import.meta.url)).replace(/\/$/, "");

export const PaymentService = role("payments", { image: image("payments"), provides: { api: payments }, requires: {} });

export const InventoryService = role("inventory", { image: image("inventory"), provides: { api: inventory }, requires: {} });

export const OrderService = role("orders", {
  image: image("orders"),
  provides: { api: orders },
  requires: { payments, inventory },
});

export const WebFrontend = role("web", { image: image("web"), provides: { site: web }, requires: { orders } });

export const roles = [PaymentService, InventoryService, OrderService, WebFrontend] as const;
