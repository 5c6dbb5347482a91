// A group of VMs of two roles is no group of replicas.
import { farm, InventoryService, LedgerService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";
const pay = await farm.vm(PaymentService, {});
const ledger = await farm.vm(LedgerService, {});
// @expect TS2769
farm.autoscale([pay, ledger], { demand: { metric: { kind: "request-rate" }, target: 100 }, min: 1, max: 4 });
