// A replica count that may be 0 (one of two literal counts) is refused like 0.
import { farm, InventoryService, LedgerService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";
const replicas = process.env.OFF === "1" ? 0 : 2;
// @expect TS2345
await farm.replicate(replicas, PaymentService, {});
