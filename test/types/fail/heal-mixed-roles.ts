// Decision: one heal call keeps the VMs of one role alive (a heal group is a set of interchangeable
// replicas, like a balancer's backends). VMs of two roles in one array are refused; call heal once
// per role instead (see pass/heal.ts).
import { farm, InventoryService, PaymentService } from "../fixtures.ts";

const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
// @expect TS2322
farm.heal([pay, inv]);
