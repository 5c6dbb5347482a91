// The autoscaler's part of the controller's metrics: each autoscaled group's replicas (what it had
// and what was decided), its decisions by the rule that settled them, and the reads of demand that
// failed. Fed by the farm's autoscale events, so it sees exactly what the log and `status` see;
// registered on the controller's registry (control/dashboard/metrics.ts serves it).

import { Counter, Gauge, type Registry } from "prom-client";
import type { FarmEvent } from "../farm/farm.ts";

export class AutoscaleExporter {
  readonly #current: Gauge<"group">;
  readonly #desired: Gauge<"group">;
  readonly #ready: Gauge<"group">;
  readonly #ratio: Gauge<"group">;
  readonly #decisions: Counter<"group" | "rule">;
  readonly #failures: Counter<"group">;

  constructor(registry: Registry) {
    const registers = [registry];
    this.#current = new Gauge({ name: "farmhand_autoscale_current_replicas", help: "Replicas of the group when it was last evaluated.", labelNames: ["group"], registers });
    this.#desired = new Gauge({ name: "farmhand_autoscale_desired_replicas", help: "Replicas the last decision asked for.", labelNames: ["group"], registers });
    this.#ready = new Gauge({ name: "farmhand_autoscale_ready_replicas", help: "Replicas that served (not starting, draining or healing) at the last evaluation.", labelNames: ["group"], registers });
    this.#ratio = new Gauge({ name: "farmhand_autoscale_demand_ratio", help: "Demand over what the ready replicas carry at target (the largest over the metrics).", labelNames: ["group"], registers });
    this.#decisions = new Counter({ name: "farmhand_autoscale_decisions_total", help: "Decisions, by the rule that settled them.", labelNames: ["group", "rule"], registers });
    this.#failures = new Counter({ name: "farmhand_autoscale_metric_read_failures_total", help: "Demand reads that failed (missing, stale, NaN, or the source down).", labelNames: ["group"], registers });
  }

  observe(event: FarmEvent): void {
    if (event.type !== "autoscale") return;
    const group = { group: event.group };
    this.#current.set(group, event.from);
    this.#desired.set(group, event.to);
    this.#ready.set(group, event.ready);
    if (event.ratio !== null && Number.isFinite(event.ratio)) this.#ratio.set(group, event.ratio);
    this.#decisions.inc({ ...group, rule: event.rule });
    if (event.errors.length > 0) this.#failures.inc(group, event.errors.length);
  }
}
