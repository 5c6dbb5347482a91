// A run's state between two turns, as one digest, for the explorer's pruning: two runs whose states
// have the same digest are taken to behave the same from there on, so only one is explored further.
// It covers what the future depends on, with every time written relative to now (a state reached at
// minute 3 and at minute 5 is the same state):
//   - the kernel's timers (when each is due, and whether it is a background pass);
//   - the hypervisor: each VM of the farm, its state, its service's, its imports and settings;
//   - each balancer's pools: lifecycle, health counters, check phase, ejection, warm-up, drain;
//   - the model (nodes, wiring, heal, pools, autoscaled groups);
//   - the reconciler's own state (Reconciler.inspect: what it holds ready, failed or being healed,
//     liveness strikes, heal backoff still counting);
//   - each autoscaled group's decisions still inside its policy's memory (windows, cooldowns, rate
//     periods, panic), and the failed reads in a row;
//   - where the demand trace stands (only while it still has changes ahead);
//   - the invariant checker's obligations and their ages.
// What it does not cover is the inside of promise chains waiting on a timer: which code a timer
// wakes is taken to follow from the rest (a VM "starting" has its boot under way, a node
// "recovering" its heal). docs/semantics.md says so too.

import { createHash } from "node:crypto";
import type { Decision } from "../autoscale/decide.ts";
import type { AutoscalePolicy } from "../autoscale/policy.ts";
import type { FarmModel, FarmNode } from "../model/farm-model.ts";
import type { Reconciler } from "../reconcile/reconciler.ts";
import type { SimBalancers } from "./balancer/admin.ts";
import type { DemandTrace } from "./demand.ts";
import type { SimDriver, SimVmView } from "./driver.ts";
import type { InvariantChecker } from "./invariants.ts";
import type { Kernel } from "./kernel.ts";

export interface FingerprintParts {
  readonly farm: string;
  readonly kernel: Kernel;
  readonly driver: SimDriver;
  readonly balancers: SimBalancers;
  readonly model: FarmModel;
  readonly reconciler: Reconciler;
  readonly checker: InvariantChecker;
  readonly demand: DemandTrace | null;
}

/** The state as text (what the digest is of; readable when two states must be compared by eye). */
export function describeState(p: FingerprintParts): string {
  return stateLines(p, true).join("\n");
}

/** The digest of the state (hex): what the explorer keeps of every state it has seen. */
export function fingerprint(p: FingerprintParts): string {
  return createHash("sha1").update(describeState(p)).digest("hex");
}

/**
 * The state with time left out: what is under way, not how long it has to run or how long ago it
 * began (no timer's due time, no age of a heal's backoff or of an obligation, no autoscaler's
 * decision times). A turn that leaves it as it was is one in which only time passed (a periodic
 * pass that found nothing to do, a wait counting down); the explorer places failures at the turns
 * that change it, its steps (control/sim/explore/run-one.ts).
 */
export function stepKey(p: FingerprintParts): readonly string[] {
  return stateLines(p, false);
}

/**
 * Whether two step keys are the same. Line by line: most lines are the very strings kept from the
 * turn before (a VM's, a node's), which compare at once, and no turn pays for joining them all.
 */
export function sameStep(a: readonly string[] | null, b: readonly string[]): boolean {
  if (a === null || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// A state is written at every turn the explorer looks at, and most of it has not changed since the
// turn before: the line of a VM (by its spec, state and guest) and of a model node (nodes are
// replaced, never changed, when the model changes) are kept and written again only when they differ.
const vmLines = new WeakMap<SimVmView, { spec: object; state: string; guest: string; line: string }>();
const nodeLines = new WeakMap<FarmNode, string>();

function vmLine(vm: SimVmView): string {
  const kept = vmLines.get(vm);
  if (kept !== undefined && kept.spec === vm.spec && kept.state === vm.state && kept.guest === vm.guest) return kept.line;
  const imports = Object.entries(vm.spec.imports).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join(",");
  const line = `vm ${vm.id} ${vm.spec.labels.vm} ${vm.state} ${vm.guest} ${imports} ${JSON.stringify(vm.spec.settings ?? {})}`;
  vmLines.set(vm, { spec: vm.spec, state: vm.state, guest: vm.guest, line });
  return line;
}

const summaries = new WeakMap<Decision, string>();

function summaryOf(d: Decision): string {
  let text = summaries.get(d);
  if (text === undefined) summaries.set(d, (text = `${d.current}/${d.ready}:${d.recommendation}->${d.desired}${d.panic ? "!" : ""}`));
  return text;
}

function nodeLine(node: FarmNode): string {
  let line = nodeLines.get(node);
  if (line !== undefined) return line;
  const refs = node.kind === "vm"
    ? `${node.heal ? "heal " : ""}${Object.entries(node.imports).map(([k, r]) => `${k}=${r.node}.${r.endpoint}`).join(",")}`
    : node.pools.map((pool) => `${pool.name}:${pool.members.map((m) => `${m.ref.node}${m.backup ? "?" : ""}`).join("+")}`).join(",");
  nodeLines.set(node, (line = `node ${node.name} ${node.kind} ${refs}`));
  return line;
}

function stateLines(p: FingerprintParts, timed: boolean): string[] {
  const now = p.kernel.now();
  const lines: string[] = [];
  lines.push(timed
    ? `timers ${p.kernel.timersFromNow().map((t) => `${t.in}${t.background ? "b" : ""}`).join(",")}`
    : `waits ${p.kernel.foregroundTimers}`);
  for (const vm of p.driver.vms()) if (vm.spec.labels.farm === p.farm) lines.push(vmLine(vm));
  for (const b of p.balancers.live()) lines.push(`balancer ${b.host}#${b.boot} ${b.fingerprint(timed)}`);
  for (const node of p.model.nodes) lines.push(nodeLine(node));
  const r = p.reconciler.inspect();
  lines.push(`reconciler ${r.closed ? "closed" : "open"} ${r.realized.map((x) => `${x.name}:${x.id}:${x.state}:${x.address}:${x.probeFailures}`).join(",")}`);
  lines.push(`backoff ${r.backoff.map((x) => `${x.role}:${x.failures}${timed ? `:${x.ageMs}` : ""}`).join(",")} recovering ${[...r.recovering].sort().join(",")} undestroyed ${[...r.undestroyed].sort().join(",")}`);
  for (const a of p.model.autoscalers) {
    const memory = memoryOf(a.policy);
    const decisions = p.reconciler.autoscale(a.balancer).decisions;
    let failing = 0;
    for (let i = decisions.length - 1; i >= 0 && decisions[i].metrics.some((m) => m.demand === null); i--) failing++;
    // Newest first, back as far as the policy remembers. Untimed, the decisions still remembered are
    // a set: the same decision made again is no step.
    const shown: string[] = [];
    for (let i = decisions.length - 1; i >= 0 && now - decisions[i].at < memory; i--) {
      const d = decisions[i];
      shown.push(timed ? `${now - d.at}:${summaryOf(d)}` : summaryOf(d));
    }
    lines.push(`autoscale ${a.balancer} failing ${failing} ${(timed ? shown.reverse() : [...new Set(shown)].sort()).join(",")}`);
  }
  lines.push(`demand ${timed ? demandKey(p.demand, now) : p.demand === null ? "none" : p.demand.rpsAt(now)}`);
  lines.push(`obligations ${p.checker.fingerprint(now, timed)}`);
  return lines;
}

/** How far back an autoscaler's decisions still change what it decides next. */
function memoryOf(policy: AutoscalePolicy): number {
  return Math.max(
    policy.stabilization.upMs, policy.stabilization.downMs, policy.cooldown.upMs, policy.cooldown.downMs,
    policy.panic === false ? 0 : policy.panic.windowMs,
    ...[...policy.rate.up.rules, ...policy.rate.down.rules].map((r) => r.periodMs),
  ) + policy.syncMs;
}

/** A trace with changes still ahead ties the state to the time; a steady one does not. */
function demandKey(trace: DemandTrace | null, now: number): string {
  if (trace === null) return "none";
  const last = trace.points.at(-1)!;
  return now < last.at ? `at ${now}` : `steady ${last.rps}`;
}
