// A run's timeline, from its event log: how many VMs served over time, each autoscaled group's size,
// the demand, and the failures (injected, and as the controller saw them). What the SVG draws.

import type { DemandTrace } from "./demand.ts";
import type { LogEntry } from "./event-log.ts";

export interface Step {
  readonly at: number;
  readonly value: number;
}

export interface Timeline {
  readonly durationMs: number;
  /** VMs serving, as the farm's events tell it: started, failed, healed, removed. */
  readonly serving: readonly Step[];
  /** Each autoscaled group's size after each decision. */
  readonly groups: ReadonlyMap<string, readonly Step[]>;
  /** Requests per second at every balancer. */
  readonly demand: readonly Step[];
  readonly failures: readonly { readonly at: number; readonly vm: string; readonly injected: boolean }[];
}

export function timelineOf(log: readonly LogEntry[], demand: DemandTrace | null, durationMs: number): Timeline {
  const live = new Set<string>();
  const serving: Step[] = [{ at: 0, value: 0 }];
  const groups = new Map<string, Step[]>();
  const failures: { at: number; vm: string; injected: boolean }[] = [];
  const count = (at: number) => {
    const last = serving[serving.length - 1];
    if (last.value === live.size) return;
    if (last.at === at) serving[serving.length - 1] = { at, value: live.size };
    else serving.push({ at, value: live.size });
  };
  for (const entry of log) {
    if (entry.kind === "fault") {
      if (entry.outcome === "injected") failures.push({ at: entry.at, vm: entry.vm, injected: true });
      continue;
    }
    if (entry.kind !== "event") continue;
    const e = entry.event;
    switch (e.type) {
      case "vm-started":
      case "vm-healed":
        live.add(e.vm);
        break;
      case "vm-failed":
        if (live.delete(e.vm)) failures.push({ at: entry.at, vm: e.vm, injected: false });
        break;
      case "vm-stopped":
        live.delete(e.vm);
        break;
      case "autoscale": {
        let steps = groups.get(e.group);
        if (steps === undefined) groups.set(e.group, (steps = [{ at: entry.at, value: e.from }]));
        if (steps[steps.length - 1].value !== e.to) steps.push({ at: entry.at, value: e.to });
        break;
      }
      default:
        break;
    }
    count(entry.at);
  }
  const points = demand === null ? [{ at: 0, rps: 0 }] : demand.points.filter((p) => p.at <= durationMs);
  return { durationMs, serving, groups, demand: points.map((p) => ({ at: p.at, value: p.rps })), failures };
}
