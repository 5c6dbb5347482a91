// What must hold of a farm whatever fails, checked between the kernel's turns (what `verify` explores
// and `simulate` reports):
//   imports   every import of a live VM points at a live VM that serves the contract it wants, within
//             a bound of its breaking (a failure is allowed to be noticed and mended);
//   pools     a balancer routes only to live VMs that the controller holds ready, within the bound;
//   autoscale every decision stays within min and max, and, outside panic mode, within the rate limits
//             of its policy;
//   teardown  nothing of the farm is left once teardown has finished;
//   controller the controller never fails with an error that nobody handles (a real one would die of it).
// A VM is live when it runs and its service serves. A breach starts an obligation; one that lasts
// past the bound is a violation, reported once.

import type { AutoscalePolicy, RateLimits } from "../autoscale/policy.ts";
import type { FarmEvent } from "../farm/farm.ts";
import type { FarmModel } from "../model/farm-model.ts";
import type { Reconciler } from "../reconcile/reconciler.ts";
import type { SimBalancers } from "./balancer/admin.ts";
import type { SimBalancer } from "./balancer/model.ts";
import type { SimDriver, SimVmView } from "./driver.ts";
import { formatDuration } from "./durations.ts";
import { announcedBy } from "./guest.ts";

export type InvariantName = "imports" | "pools" | "autoscale-bounds" | "autoscale-rate" | "teardown" | "controller";

export interface Violation {
  readonly invariant: InvariantName;
  readonly at: number;
  /** What it is about: "web-1 import orders", "orders-balancer-1 pool main 10.0.0.3:8080". */
  readonly subject: string;
  readonly message: string;
}

interface Obligation {
  readonly since: number;
  readonly problem: string;
  reported: boolean;
}

export interface CheckerParts {
  readonly farm: string;
  readonly driver: SimDriver;
  readonly balancers: SimBalancers;
  readonly model: FarmModel;
  readonly reconciler: Reconciler;
  readonly boundMs: number;
}

export class InvariantChecker {
  readonly #p: CheckerParts;
  readonly #obligations = new Map<string, Obligation>();
  /** The breaches each importer's imports make (by VM id), and each balancer's pools (by host). */
  readonly #importBreaches = new Map<string, Map<string, string>>();
  readonly #poolBreaches = new Map<string, Map<string, string>>();
  /** Importers by the address they import from: whose imports a change at that address concerns. */
  readonly #importers = new Map<string, Set<string>>();
  /** Pool versions of each balancer at its last look, and of all balancers. */
  readonly #poolsSeen = new Map<string, string>();
  #balancersSeen = -1;
  /** VM names the farm's events spoke of since the last check: the controller's view of them changed. */
  #spoken = new Set<string>();
  readonly #changes = new Map<string, { at: number; from: number; to: number }[]>();

  constructor(parts: CheckerParts) {
    this.#p = parts;
    parts.driver.trackChanges();
  }

  /**
   * Between two turns: obligations begin and end; those older than the bound become violations.
   * Only what changed is looked at again: the VMs the hypervisor changed, whoever imports from them,
   * and the balancers whose pools changed or route to them.
   */
  check(now: number): Violation[] {
    const { driver, balancers } = this.#p;
    const changed = driver.takeChanges();
    const spoken = this.#spoken;
    this.#spoken = new Set();
    const hosts = new Set<string>(changed.map((vm) => vm.host));
    for (const name of spoken) for (const vm of driver.named(this.#p.farm, name)) hosts.add(vm.host);
    const importers = new Set<SimVmView>(changed);
    for (const host of hosts) for (const id of this.#importers.get(host) ?? []) {
      const vm = driver.byId(id);
      if (vm !== null) importers.add(vm);
    }
    for (const vm of importers) this.#recheckImports(vm, now);
    // Pools: only when a pool, a VM or the controller's view of one changed since the last look.
    const version = balancers.version;
    if (version !== this.#balancersSeen || hosts.size > 0) this.#recheckPools(hosts, now);
    this.#balancersSeen = version;
    return this.#overdue(now);
  }

  #recheckPools(hosts: ReadonlySet<string>, now: number): void {
    const { balancers } = this.#p;
    const touched = new Set<SimBalancer>();
    for (const h of hosts) for (const b of balancers.balancersOf(h)) touched.add(b);
    for (const b of balancers.live()) {
      const versions = [...b.pools.values()].map((p) => p.version).join(",");
      const seen = this.#poolsSeen.get(b.host);
      if (seen === `${b.boot}:${versions}` && !touched.has(b)) continue;
      this.#poolsSeen.set(b.host, `${b.boot}:${versions}`);
      this.#settle(this.#poolBreaches, b.host, this.#poolsOf(b), now);
    }
    for (const host of [...this.#poolBreaches.keys()]) {
      if (!balancers.live().some((b) => b.host === host)) this.#settle(this.#poolBreaches, host, new Map(), now);
    }
  }

  /** Obligations older than the bound, reported once each. */
  #overdue(now: number): Violation[] {
    const out: Violation[] = [];
    for (const [key, o] of this.#obligations) {
      if (o.reported || now - o.since <= this.#p.boundMs) continue;
      o.reported = true;
      const [invariant, subject] = splitKey(key);
      out.push({ invariant, at: now, subject, message: `${subject}: ${o.problem}, for more than ${formatDuration(this.#p.boundMs)} (since ${formatDuration(o.since)})` });
    }
    return out;
  }

  /** A farm event named this VM: the controller's view of it changed (ready or not). */
  noteEvent(event: FarmEvent): void {
    if ("vm" in event) this.#spoken.add(event.vm);
  }

  /** An autoscale decision, against its policy's min, max and rate limits. */
  autoscaled(event: FarmEvent, now: number): Violation[] {
    if (event.type !== "autoscale") return [];
    const desire = this.#p.model.autoscalers.find((a) => a.balancer === event.group);
    if (desire === undefined) return [];
    const policy = desire.policy;
    const out: Violation[] = [];
    const subject = `${event.group} autoscale`;
    if (event.to < policy.min || event.to > policy.max) {
      out.push({ invariant: "autoscale-bounds", at: now, subject, message: `${subject}: ${event.from} -> ${event.to} replicas, outside min ${policy.min} and max ${policy.max}` });
    }
    if (event.to === event.from) return out;
    const changes = this.#changes.get(event.group) ?? [];
    const panic = this.#p.reconciler.autoscale(event.group).decisions.at(-1)?.panic === true;
    const limit = panic && event.to > event.from ? null : allowed(policy, changes, event.from, now, event.to > event.from ? 1 : -1);
    if (limit !== null && (event.to > event.from ? event.to > limit : event.to < limit)) {
      out.push({ invariant: "autoscale-rate", at: now, subject, message: `${subject}: ${event.from} -> ${event.to} replicas, past its rate limit (${limit} at most this far)` });
    }
    const keep = Math.max(0, ...[...policy.rate.up.rules, ...policy.rate.down.rules].map((r) => r.periodMs));
    this.#changes.set(event.group, [...changes.filter((c) => now - c.at < keep), { at: now, from: event.from, to: event.to }]);
    return out;
  }

  /** After teardown has settled: what of the farm the driver still has. */
  leftovers(now: number): Violation[] {
    return [...this.#p.driver.vms()]
      .filter((vm) => vm.spec.labels.farm === this.#p.farm)
      .map((vm) => ({ invariant: "teardown" as const, at: now, subject: vm.spec.labels.vm, message: `${vm.spec.labels.vm} (${vm.id}, ${vm.state}) is left after teardown` }));
  }

  /** The obligations under way, relative to now (`timed` false: without their ages): part of a state's fingerprint. */
  fingerprint(now: number, timed = true): string {
    const cap = this.#p.boundMs + 1;
    return [...this.#obligations].map(([key, o]) => `${key}${timed ? `:${Math.min(cap, now - o.since)}` : ""}${o.reported ? "!" : ""}`).sort().join(",");
  }

  /** Replaces the breaches of one source (an importer, a balancer), ending and starting obligations. */
  #settle(bySource: Map<string, Map<string, string>>, source: string, breaches: Map<string, string>, now: number): void {
    const before = bySource.get(source);
    for (const key of before?.keys() ?? []) if (!breaches.has(key)) this.#obligations.delete(key);
    for (const [key, problem] of breaches) {
      const o = this.#obligations.get(key);
      if (o === undefined || o.problem !== problem) this.#obligations.set(key, { since: o?.since ?? now, problem, reported: o?.reported ?? false });
    }
    if (breaches.size === 0) bySource.delete(source);
    else bySource.set(source, breaches);
  }

  /** The imports of one VM, looked at again (and where they point, remembered for later changes there). */
  #recheckImports(vm: SimVmView, now: number): void {
    const { driver, model, farm } = this.#p;
    const breaches = new Map<string, string>();
    const node = vm.spec.labels.farm === farm && live(vm) && driver.byId(vm.id) !== null ? model.node(vm.spec.labels.vm) : undefined;
    for (const url of Object.values(vm.spec.imports)) {
      const host = hostOf(url);
      if (host === null) continue;
      let set = this.#importers.get(host);
      if (set === undefined) this.#importers.set(host, (set = new Set()));
      set.add(vm.id);
    }
    if (node?.kind === "vm") {
      for (const [key, url] of Object.entries(vm.spec.imports)) {
        const wanted = node.role.requires[key]?.id;
        if (wanted === undefined) continue;
        const host = hostOf(url);
        const target = host === null ? null : driver.guestAt(host);
        const problem = target === null ? `points at ${url}, where no VM runs`
          : target.guest !== "serving" ? `points at ${target.spec.labels.vm} (${url}), whose service does not answer`
          : !Object.values(announcedBy(target.spec)).includes(wanted) ? `points at ${target.spec.labels.vm} (${url}), which does not serve ${wanted}`
          : null;
        if (problem !== null) breaches.set(`imports\u0000${vm.spec.labels.vm} import ${key}`, problem);
      }
    }
    this.#settle(this.#importBreaches, vm.id, breaches, now);
  }

  /** What a balancer routes to that it should not. */
  #poolsOf(b: SimBalancer): Map<string, string> {
    const { driver, reconciler } = this.#p;
    const breaches = new Map<string, string>();
    const vm = driver.guestAt(b.host);
    if (vm === null || vm.spec.labels.farm !== this.#p.farm || vm.guest !== "serving") return breaches;
    for (const pool of b.pools.values()) {
      for (const backend of pool.routable()) {
        const target = driver.guestAt(backend.address);
        const problem = target === null ? "routes to an address where no VM runs"
          : target.guest !== "serving" ? `routes to ${target.spec.labels.vm}, whose service does not answer`
          : !reconciler.serving(target.spec.labels.vm) ? `routes to ${target.spec.labels.vm}, which the controller does not hold ready`
          : null;
        if (problem !== null) breaches.set(`pools\u0000${b.name} pool ${pool.name} ${backend.id}`, problem);
      }
    }
    return breaches;
  }
}

function live(vm: SimVmView): boolean {
  return vm.state === "running" && vm.guest === "serving";
}

function hostOf(url: string): string | null {
  const m = /^https?:\/\/(\[[^\]]+\]|[^:/]+)/.exec(url);
  return m === null ? null : m[1];
}

function splitKey(key: string): [InvariantName, string] {
  const i = key.indexOf("\u0000");
  return [key.slice(0, i) as InvariantName, key.slice(i + 1)];
}

/**
 * How far the rate limits of `policy` let a group of `from` replicas go in one direction now, given
 * the changes made before (oldest first): from the size at the start of each rule's period, by the
 * rule's replicas or percent, the rules combined as the policy selects. The policy written as a
 * check, not the autoscaler's code: a decision past it is a violation.
 */
function allowed(policy: AutoscalePolicy, changes: readonly { at: number; from: number }[], from: number, now: number, sign: 1 | -1): number | null {
  const limits: RateLimits = sign > 0 ? policy.rate.up : policy.rate.down;
  if (limits.select === "disabled") return from;
  if (limits.rules.length === 0) return null;
  const bounds = limits.rules.map((rule) => {
    const first = changes.find((c) => now - c.at < rule.periodMs);
    const start = first === undefined ? from : first.from;
    const step = "replicas" in rule ? rule.replicas : Math.max(sign > 0 ? 1 : 0, Math.ceil((start * rule.percent) / 100));
    return start + sign * step;
  });
  const most = sign > 0 ? Math.max(...bounds) : Math.min(...bounds);
  const least = sign > 0 ? Math.min(...bounds) : Math.max(...bounds);
  return limits.select === "max" ? most : least;
}
