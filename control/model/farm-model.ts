// The desired farm: what a script asked for, as data. The combinators write it (model/recorder.ts);
// the reconciler drives the world towards it; `graph`, `plan` and `check` read it. Nothing here runs a
// VM, opens a socket or looks at the clock.
//
// Wiring is by reference, never by address: an import names the node and the endpoint it uses
// ({ node: "orders-balancer-1", endpoint: "api" }), so the model is the same before anything runs,
// while it runs, and after a VM has moved. Addresses are what the reconciler observes, not what the
// script said.

import type { AnyContract, AnyRole } from "../contracts/index.ts";
import type { AutoscalePolicy } from "../autoscale/policy.ts";
import type { BalancePolicy } from "../farm/farm.ts";

/** Which endpoint of which node: how the model wires things. */
export interface EndpointRef {
  readonly node: string;
  /** The provided endpoint's name on a VM ("api"); "api" for an intermediary, which serves one contract. */
  readonly endpoint: string;
}

/** One VM of a role, wired to exactly its role's imports. */
export interface VmNode {
  readonly kind: "vm";
  readonly name: string;
  readonly role: AnyRole;
  /** Import name -> what it points at. Changed only by `rewire`. */
  readonly imports: Readonly<Record<string, EndpointRef>>;
  /** Kept alive: a failed one is started again, or replaced, with backoff. */
  readonly heal: boolean;
}

/** A backend of an intermediary's pool. */
export interface PoolMember {
  readonly ref: EndpointRef;
  /** Serves only while no other member of the pool is routable (a failover's backup). */
  readonly backup: boolean;
}

export interface PoolDesire {
  readonly name: string;
  readonly members: readonly PoolMember[];
}

/**
 * A balancer VM (the proxy of native-free-core) in front of endpoints of one contract: `balance`
 * (one pool), `failover` (one pool, a primary and a backup) or `route` (one pool per path prefix).
 * Intermediaries the farm makes are always kept alive: their clients know only their address.
 */
export interface IntermediaryNode {
  readonly kind: "balancer" | "failover" | "router";
  readonly name: string;
  /** The contract its front endpoint serves (a routed contract for a router). */
  readonly contract: AnyContract;
  readonly policy: BalancePolicy;
  readonly pools: readonly PoolDesire[];
  /** A router's prefixes, each to its own pool; the others have none (everything to "main"). */
  readonly routes: readonly { readonly prefix: string; readonly pool: string }[];
  /** Requests are checked against the contract at the balancer (BalanceOptions.validate); absent: not. */
  readonly validate?: boolean;
}

export type FarmNode = VmNode | IntermediaryNode;

/**
 * A group that autoscales: the members of one pool of one balancer, replicas of one role wired
 * alike. Its size is the pool's member count; the autoscaler changes it by adding and removing VMs.
 */
export interface AutoscaleDesire {
  /** The balancer whose pool the group is (also the group's name). */
  readonly balancer: string;
  readonly pool: string;
  readonly role: AnyRole;
  /** What every replica imports, as the group's VMs do. */
  readonly imports: Readonly<Record<string, EndpointRef>>;
  /** The replicas' endpoint the balancer routes to ("api"). */
  readonly endpoint: string;
  readonly policy: AutoscalePolicy;
}

/** The endpoint name every intermediary serves under, like a VM's "api". */
export const INTERMEDIARY_ENDPOINT = "api";

/** What the reconciler and the renderers read: the nodes in the order the script made them. */
export interface FarmModelView {
  readonly name: string;
  readonly nodes: readonly FarmNode[];
  node(name: string): FarmNode | undefined;
}

export class FarmModel implements FarmModelView {
  readonly name: string;
  readonly #nodes = new Map<string, FarmNode>();
  readonly #autoscalers = new Map<string, AutoscaleDesire>();
  readonly #counters = new Map<string, number>();
  readonly #listeners = new Set<(change: ModelChange) => void>();
  /**
   * Who refers to each node, and the order nodes were added in: dependents() answers from these, as
   * a farm of thousands of VMs asks it after every change of any of them.
   */
  readonly #users = new Map<string, Set<string>>();
  readonly #order = new Map<string, number>();
  #added = 0;

  constructor(name: string) {
    this.name = name;
  }

  get nodes(): readonly FarmNode[] {
    return [...this.#nodes.values()];
  }

  node(name: string): FarmNode | undefined {
    return this.#nodes.get(name);
  }

  /** The next free name for a prefix: "orders" -> "orders-1", "orders-2", ... (as every earlier run named them). */
  nextName(prefix: string): string {
    let n = this.#counters.get(prefix) ?? 0;
    let name: string;
    do name = `${prefix}-${++n}`;
    while (this.#nodes.has(name));
    this.#counters.set(prefix, n);
    return name;
  }

  add(node: FarmNode): void {
    if (this.#nodes.has(node.name)) throw new RangeError(`farm ${this.name}: ${node.name} is named twice`);
    for (const ref of referencesOf(node)) this.#mustExist(ref, node.name);
    this.#put(node);
    this.#order.set(node.name, this.#added++);
    this.#changed({ type: "added", node: node.name });
  }

  /** Takes a node out of the desired farm (a combinator that failed, a script that no longer asks for it). */
  remove(name: string): void {
    const node = this.#nodes.get(name);
    if (node === undefined) return;
    this.#unindex(node);
    this.#nodes.delete(name);
    this.#order.delete(name);
    this.#autoscalers.delete(name);
    this.#changed({ type: "removed", node: name });
  }

  /** Points one import of a VM elsewhere (rewire). */
  setImport(vm: string, importName: string, to: EndpointRef): VmNode {
    const node = this.#vm(vm);
    this.#mustExist(to, vm);
    const next: VmNode = { ...node, imports: { ...node.imports, [importName]: to } };
    this.#put(next);
    this.#changed({ type: "rewired", node: vm });
    return next;
  }

  setHeal(vm: string, heal: boolean): void {
    const node = this.#vm(vm);
    if (node.heal === heal) return;
    this.#put({ ...node, heal });
    this.#changed({ type: "policy", node: vm });
  }

  /** Groups under autoscaling, by balancer. */
  get autoscalers(): readonly AutoscaleDesire[] {
    return [...this.#autoscalers.values()];
  }

  setAutoscale(desire: AutoscaleDesire): void {
    const balancer = this.#nodes.get(desire.balancer);
    if (balancer === undefined || balancer.kind === "vm") throw new RangeError(`farm ${this.name}: no balancer named ${desire.balancer}`);
    this.#autoscalers.set(desire.balancer, desire);
    this.#changed({ type: "policy", node: desire.balancer });
  }

  /** Adds a member to an intermediary's pool (a replica the autoscaler made). */
  addPoolMember(intermediary: string, pool: string, member: PoolMember): void {
    this.#mustExist(member.ref, intermediary);
    this.#updatePool(intermediary, pool, (members) => [...members, member]);
  }

  /** Takes a node out of an intermediary's pool (a replica the autoscaler retires). */
  removePoolMember(intermediary: string, pool: string, node: string): void {
    this.#updatePool(intermediary, pool, (members) => members.filter((m) => m.ref.node !== node));
  }

  #updatePool(intermediary: string, pool: string, change: (members: readonly PoolMember[]) => PoolMember[]): void {
    const node = this.#nodes.get(intermediary);
    if (node === undefined || node.kind === "vm") throw new RangeError(`farm ${this.name}: no balancer named ${intermediary}`);
    if (!node.pools.some((p) => p.name === pool)) throw new RangeError(`farm ${this.name}: ${intermediary} has no pool ${pool}`);
    this.#put({ ...node, pools: node.pools.map((p) => (p.name === pool ? { ...p, members: change(p.members) } : p)) });
    this.#changed({ type: "rewired", node: intermediary });
  }

  /** Nodes that `name` uses (imports, pool members), without repeats. */
  dependencies(name: string): string[] {
    const node = this.#nodes.get(name);
    return node === undefined ? [] : [...new Set(referencesOf(node).map((r) => r.node))];
  }

  /** Nodes that use `name`: importing VMs and intermediaries with it in a pool. */
  dependents(name: string): string[] {
    const users = this.#users.get(name);
    if (users === undefined) return [];
    return [...users].sort((a, b) => this.#order.get(a)! - this.#order.get(b)!);
  }

  /** Sets a node (new, or a new version of one), keeping the index of who refers to whom. */
  #put(node: FarmNode): void {
    const before = this.#nodes.get(node.name);
    const now = new Set(referencesOf(node).map((r) => r.node));
    // Only what changed is unindexed: a balancer of hundreds gains or loses one member at a time.
    if (before !== undefined) for (const ref of referencesOf(before)) if (!now.has(ref.node)) this.#users.get(ref.node)?.delete(node.name);
    this.#nodes.set(node.name, node);
    for (const target of now) {
      let users = this.#users.get(target);
      if (users === undefined) this.#users.set(target, (users = new Set()));
      users.add(node.name);
    }
  }

  #unindex(node: FarmNode): void {
    for (const ref of referencesOf(node)) this.#users.get(ref.node)?.delete(node.name);
  }

  /** Hears about every change: how a running controller learns that it has work to do. */
  onChange(listener: (change: ModelChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #vm(name: string): VmNode {
    const node = this.#nodes.get(name);
    if (node === undefined || node.kind !== "vm") throw new RangeError(`farm ${this.name}: no VM named ${name}`);
    return node;
  }

  #mustExist(ref: EndpointRef, user: string): void {
    if (!this.#nodes.has(ref.node)) throw new RangeError(`farm ${this.name}: ${user} refers to ${ref.node}, which is not in the farm`);
  }

  #changed(change: ModelChange): void {
    for (const listener of this.#listeners) listener(change);
  }
}

export type ModelChange =
  | { readonly type: "added" | "removed" | "rewired" | "policy"; readonly node: string };

/** Every endpoint a node refers to: a VM's imports, an intermediary's pool members. */
export function referencesOf(node: FarmNode): EndpointRef[] {
  if (node.kind === "vm") return Object.values(node.imports);
  return node.pools.flatMap((p) => p.members.map((m) => m.ref));
}

/** The contract a reference serves, as the model knows it. */
export function contractAt(model: FarmModelView, ref: EndpointRef): AnyContract | undefined {
  const node = model.node(ref.node);
  if (node === undefined) return undefined;
  return node.kind === "vm" ? node.role.provides[ref.endpoint] : node.contract;
}

/**
 * Nodes in an order where each comes after what it uses. A script makes them so; `rewire` can close a
 * cycle of imports afterwards (two VMs that import each other), which is broken where it is met.
 */
export function dependencyOrder(model: FarmModelView): FarmNode[] {
  const done = new Set<string>();
  const out: FarmNode[] = [];
  const visit = (node: FarmNode, path: Set<string>) => {
    if (done.has(node.name) || path.has(node.name)) return;
    path.add(node.name);
    for (const ref of referencesOf(node)) {
      const dep = model.node(ref.node);
      if (dep !== undefined) visit(dep, path);
    }
    path.delete(node.name);
    done.add(node.name);
    out.push(node);
  };
  for (const node of model.nodes) visit(node, new Set());
  return out;
}
