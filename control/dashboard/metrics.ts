// The controller's own Prometheus metrics, served by the dashboard at GET /metrics (its token, or the
// farm's read-only metrics token): what the balancers cannot say about the farm, and the autoscaler's
// decisions. Gauges are read from the dashboard's latest look at the farm when scraped; counters
// count the farm's events as they come. A private registry, as the balancer's exporter keeps one.

import { Counter, Gauge, Registry } from "prom-client";
import { AutoscaleExporter } from "../autoscale/exporter.ts";
import type { FarmEvent } from "../farm/farm.ts";
import type { FarmView } from "../ops/farm-view.ts";

export class ControllerMetrics {
  readonly #registry = new Registry();
  readonly #events: Counter<"type">;
  readonly #failures: Counter<"role">;
  readonly #heals: Counter<"how">;
  readonly #autoscale: AutoscaleExporter;
  #view: FarmView | null = null;

  constructor(farm: string, startedAt: number) {
    this.#registry.setDefaultLabels({ farm });
    const latest = () => this.#view;
    new Gauge({
      name: "farmhand_controller_start_time_seconds",
      help: "When this controller started, in seconds since the epoch.",
      registers: [this.#registry],
      collect() {
        this.set(startedAt / 1000);
      },
    });
    new Gauge({
      name: "farmhand_controller_vms",
      help: "VMs of the farm by health (healthy, unhealthy, starting, stopped, failed, damaged).",
      labelNames: ["health"],
      registers: [this.#registry],
      collect() {
        this.reset();
        for (const health of ["healthy", "unhealthy", "starting", "stopped", "failed", "damaged"]) {
          this.set({ health }, latest()?.vms.filter((v) => v.health === health).length ?? 0);
        }
      },
    });
    new Gauge({
      name: "farmhand_controller_pool_members",
      help: "Backends taking new requests in each balancer pool, as the balancer reports them.",
      labelNames: ["balancer", "pool"],
      registers: [this.#registry],
      collect() {
        this.reset();
        for (const b of latest()?.balancers ?? []) for (const p of b.pools) this.set({ balancer: b.name, pool: p.name }, p.members);
      },
    });
    new Gauge({
      name: "farmhand_controller_pool_backends",
      help: "Backends in each balancer pool, whatever their state.",
      labelNames: ["balancer", "pool"],
      registers: [this.#registry],
      collect() {
        this.reset();
        for (const b of latest()?.balancers ?? []) for (const p of b.pools) this.set({ balancer: b.name, pool: p.name }, p.backends.length);
      },
    });
    this.#events = new Counter({ name: "farmhand_controller_events_total", help: "Farm events, by type.", labelNames: ["type"], registers: [this.#registry] });
    this.#failures = new Counter({ name: "farmhand_controller_vm_failures_total", help: "VMs that failed (ended unasked, or stopped answering), by role.", labelNames: ["role"], registers: [this.#registry] });
    this.#heals = new Counter({ name: "farmhand_controller_heals_total", help: "Failed VMs serving again, by how: restarted in place or replaced.", labelNames: ["how"], registers: [this.#registry] });
    this.#autoscale = new AutoscaleExporter(this.#registry);
  }

  event(event: FarmEvent): void {
    this.#events.inc({ type: event.type });
    if (event.type === "vm-failed") this.#failures.inc({ role: event.role });
    if (event.type === "vm-healed") this.#heals.inc({ how: event.how });
    this.#autoscale.observe(event);
  }

  look(view: FarmView): void {
    this.#view = view;
  }

  async text(): Promise<{ readonly contentType: string; readonly body: string }> {
    return { contentType: this.#registry.contentType, body: await this.#registry.metrics() };
  }
}
