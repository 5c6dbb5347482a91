// Even with every run-time field right, a hand-built object lacks the contract brand.
import { farm, Orders1, WebFrontend } from "../fixtures.ts";

const orders = { contract: Orders1, url: "http://127.0.1.2:8080", label: "orders-1.api" };
// @expect TS2741
await farm.vm(WebFrontend, { orders });
