// Endpoints kept in a Map of AnyEndpoint: what comes out has no known contract.
import type { AnyEndpoint } from "../../../control/contracts/index.ts";
import { farm, InventoryService, LedgerService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
const registry = new Map<string, AnyEndpoint>([["payments", pay.api]]);
// @expect TS2322
await farm.vm(OrderService, { payments: registry.get("payments")!, inventory: inv.api });
