// The desired farm: what a script asked for, as data. The combinators write it (model/recorder.ts);
// the reconciler drives the world towards it; `graph`, `plan` and `check` read it. Nothing here runs a
// VM, opens a socket or looks at the clock.
//
// Wiring is by reference, never by address: an import names the node and the endpoint it uses
// ({ node: "orders-balancer-1", endpoint: "api" }), so the model is the same before anything runs,
// while it runs, and after a VM has moved. Addresses are what the reconciler observes, not what the
// script said.

import type { AnyContract, AnyRole } from "../contracts/index.ts";
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
}

export type FarmNode = VmNode | IntermediaryNode;

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
  readonly #counters = new Map<string, number>();
  readonly #listeners = new Set<(change: ModelChange) => void>();

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
    this.#nodes.set(node.name, node);
    this.#changed({ type: "added", node: node.name });
  }

  /** Takes a node out of the desired farm (a combinator that failed, a script that no longer asks for it). */
  remove(name: string): void {
    if (!this.#nodes.delete(name)) return;
    this.#changed({ type: "removed", node: name });
  }

  /** Points one import of a VM elsewhere (rewire). */
  setImport(vm: string, importName: string, to: EndpointRef): VmNode {
    const node = this.#vm(vm);
    this.#mustExist(to, vm);
    const next: VmNode = { ...node, imports: { ...node.imports, [importName]: to } };
    this.#nodes.set(vm, next);
    this.#changed({ type: "rewired", node: vm });
    return next;
  }

  setHeal(vm: string, heal: boolean): void {
    const node = this.#vm(vm);
    if (node.heal === heal) return;
    this.#nodes.set(vm, { ...node, heal });
    this.#changed({ type: "policy", node: vm });
  }

  /** Nodes that `name` uses (imports, pool members), without repeats. */
  dependencies(name: string): string[] {
    const node = this.#nodes.get(name);
    return node === undefined ? [] : [...new Set(referencesOf(node).map((r) => r.node))];
  }

  /** Nodes that use `name`: importing VMs and intermediaries with it in a pool. */
  dependents(name: string): string[] {
    return this.nodes.filter((n) => referencesOf(n).some((r) => r.node === name)).map((n) => n.name);
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
