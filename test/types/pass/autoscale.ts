// autoscale: inline options, a typed policy for the group's role, computed bounds, min 0.
import { autoscalePolicy } from "../../../control/autoscale/policy.ts";
import { farm, PaymentService } from "../fixtures.ts";

const pays = await farm.replicate(2, PaymentService, {});
await farm.balance(pays.map((p) => p.api));
const scaler = farm.autoscale(pays, { demand: { metric: { kind: "request-rate" }, target: 100 }, min: 0, max: 8 });
const n: number = scaler.replicas;
const policy = autoscalePolicy(PaymentService, {
  demand: [{ metric: { kind: "in-flight" }, target: 10 }, { metric: { kind: "latency", quantile: 0.95 }, target: 0.2 }],
  min: 2,
  max: 2 + n,
  stabilization: { upMs: 0, downMs: 120_000 },
  onMetricFailure: { kind: "fallback", replicas: 4, afterFailures: 3 },
});
const more = await farm.replicate(2, PaymentService, {});
await farm.balance(more.map((p) => p.api));
farm.autoscale(more, policy);
