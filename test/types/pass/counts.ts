// Replica counts known only at run time, or computed, are fine (the farm checks them when it runs).
import { farm, PaymentService } from "../fixtures.ts";

const wanted = Number(process.env.REPLICAS ?? "2");
const pays = await farm.replicate(wanted, PaymentService, {});
const more = await farm.replicate(pays.length + 1, PaymentService, {});
const fixed = 4 as const;
await farm.replicate(fixed, PaymentService, {});
farm.heal([...pays, ...more]);
