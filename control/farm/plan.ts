// The Farm as a plan: runs a farm script WITHOUT creating anything. Each combinator records what it
// would make (VMs, balancers, routers, failovers) under the names the controller would give them, and
// the wiring between them, as a FarmGraph (control/graph/graph.ts). No driver, no process, no network:
// endpoints it hands out are `plan://<node>/<endpoint>` URLs, by which later combinators find the node
// serving them.

import { endpoint, type AnyContract, type AnyEndpoint, type AnyRole, type Endpoint } from "../contracts/index.ts";
import { UnknownEndpointError } from "../errors.ts";
import type { FarmGraph, GraphEdge, GraphNode, NodeKind } from "../graph/graph.ts";
import { routeId, type BalanceOptions, type Farm, type FarmEvent, type PartContracts, type RoutedContract, type SameContract, type Vm } from "./farm.ts";

export type PlannedFarm = Farm & { graph(): FarmGraph };

export function planFarm(name = "default"): PlannedFarm {
  return new FarmPlan(name);
}

const PLAN_URL = /^plan:\/\/([^/]+)(?:\/.*)?$/;

/** The node serving a planned endpoint's URL. */
export function planNodeOf(url: string): string | null {
  const match = PLAN_URL.exec(url);
  return match === null ? null : match[1];
}

interface PlannedVm {
  readonly role: AnyRole;
  /** Import name -> index of its edge in #edges. */
  readonly imports: Map<string, number>;
}

class FarmPlan implements PlannedFarm {
  readonly name: string;
  readonly #nodes = new Map<string, { -readonly [K in keyof GraphNode]: GraphNode[K] }>();
  readonly #edges: GraphEdge[] = [];
  readonly #vms = new Map<string, PlannedVm>();
  readonly #counters = new Map<string, number>();

  constructor(name: string) {
    this.name = name;
  }

  async vm<R extends AnyRole>(role: R, imports: object): Promise<Vm<R>> {
    return this.#addVm(this.#nextName(role.name), role, imports as Record<string, AnyEndpoint>) as Vm<R>;
  }

  async replicate<R extends AnyRole>(n: number, role: R, imports: object): Promise<Vm<R>[]> {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`replicate: n must be a positive integer (got ${n})`);
    const names = Array.from({ length: n }, () => this.#nextName(role.name));
    return names.map((name) => this.#addVm(name, role, imports as Record<string, AnyEndpoint>) as Vm<R>);
  }

  async balance<C extends AnyContract>(endpoints: SameContract<C>, options: BalanceOptions = {}): Promise<Endpoint<C>> {
    const list = endpoints as readonly Endpoint<C>[];
    if (list.length === 0) throw new RangeError("balance: at least one endpoint is required");
    const contract = list[0].contract;
    const name = options.name ?? this.#nextName(`${contract.name}-balancer`);
    const targets = list.map((e) => this.#serving(e));
    this.#addNode(name, "balancer", [contract.id]);
    for (const to of targets) this.#edges.push({ from: name, to, label: contract.id, style: "backend" });
    return endpoint(contract, `plan://${name}`, `balancer ${name}`);
  }

  async route<const Parts extends { readonly [prefix: string]: AnyEndpoint }>(parts: Parts): Promise<Endpoint<RoutedContract<PartContracts<Parts>>>> {
    const entries = Object.entries(parts);
    if (entries.length === 0) throw new RangeError("route: at least one prefix is required");
    const contracts: Record<string, AnyContract> = {};
    const targets = entries.map(([prefix, e]) => {
      if (!prefix.startsWith("/")) throw new RangeError(`route: prefix ${JSON.stringify(prefix)} must start with "/"`);
      contracts[prefix] = e.contract;
      return { prefix, to: this.#serving(e) };
    });
    const id = routeId(contracts);
    const operations = Object.assign({}, ...Object.values(contracts).map((c) => c.operations));
    const routed = Object.freeze({ kind: "contract", id, name: "route", version: 1, operations, parts: contracts });
    const name = this.#nextName("router");
    this.#addNode(name, "router", [id]);
    for (const { prefix, to } of targets) this.#edges.push({ from: name, to, label: prefix, style: "backend" });
    return endpoint(routed as unknown as RoutedContract<PartContracts<Parts>>, `plan://${name}`, `balancer ${name}`);
  }

  async failover<C extends AnyContract>(primary: Endpoint<C>, backup: Endpoint<C>): Promise<Endpoint<C>> {
    const contract = primary.contract;
    const first = this.#serving(primary);
    const second = this.#serving(backup);
    const name = this.#nextName(`${contract.name}-failover`);
    this.#addNode(name, "failover", [contract.id]);
    this.#edges.push({ from: name, to: first, label: `primary (${contract.id})`, style: "primary" });
    this.#edges.push({ from: name, to: second, label: `backup (${contract.id})`, style: "backup" });
    return endpoint(contract, `plan://${name}`, `balancer ${name}`);
  }

  async rewire<R extends AnyRole, K extends keyof R["requires"] & string>(vm: Vm<R>, importName: K, to: Endpoint<R["requires"][K]>): Promise<Vm<R>> {
    const planned = this.#vms.get(vm.name);
    if (planned === undefined) throw new UnknownEndpointError(vm.name);
    const target = this.#serving(to as AnyEndpoint);
    const edge: GraphEdge = { from: vm.name, to: target, label: `${importName} (${(to as AnyEndpoint).contract.id})`, style: "import" };
    const index = planned.imports.get(importName);
    if (index === undefined) {
      planned.imports.set(importName, this.#edges.length);
      this.#edges.push(edge);
    } else {
      this.#edges[index] = edge;
    }
    return vm;
  }

  heal<R extends AnyRole>(vms: readonly Vm<R>[]): void {
    for (const vm of vms) {
      const node = this.#nodes.get(vm.name);
      if (node !== undefined && node.kind === "vm") node.healed = true;
    }
  }

  /** A plan has no events: nothing starts, fails or stops. */
  on(_listener: (event: FarmEvent) => void): () => void {
    return () => {};
  }

  /** Nothing was created, so there is nothing to remove; the graph stays as planned. */
  async teardown(): Promise<void> {}

  graph(): FarmGraph {
    return {
      nodes: [...this.#nodes.values()].map((n) => ({ ...n, ...(n.contracts === undefined ? {} : { contracts: [...n.contracts] }) })),
      edges: this.#edges.map((e) => ({ ...e })),
    };
  }

  // ---- internals ----------------------------------------------------------------------------------

  #nextName(prefix: string): string {
    const n = (this.#counters.get(prefix) ?? 0) + 1;
    this.#counters.set(prefix, n);
    return `${prefix}-${n}`;
  }

  #addNode(id: string, kind: NodeKind, contracts: string[], role?: string): void {
    if (this.#nodes.has(id)) throw new RangeError(`plan: ${id} is named twice`);
    this.#nodes.set(id, { id, kind, label: id, contracts, ...(role === undefined ? {} : { role }) });
  }

  /** The node serving an endpoint this plan handed out. */
  #serving(e: AnyEndpoint): string {
    const node = planNodeOf(e.url);
    if (node === null || !this.#nodes.has(node)) throw new UnknownEndpointError(e.url);
    return node;
  }

  #addVm(name: string, role: AnyRole, imports: Record<string, AnyEndpoint>): Vm<AnyRole> {
    const wired = Object.entries(imports).map(([importName, e]) => ({ importName, e, to: this.#serving(e) }));
    this.#addNode(name, "vm", Object.entries(role.provides).map(([key, c]) => `${key}: ${c.id}`), role.name);
    const planned: PlannedVm = { role, imports: new Map() };
    for (const { importName, e, to } of wired) {
      planned.imports.set(importName, this.#edges.length);
      this.#edges.push({ from: name, to, label: `${importName} (${e.contract.id})`, style: "import" });
    }
    this.#vms.set(name, planned);
    const handle: Record<string, unknown> = { id: `plan:${name}`, name, role, address: { host: name, port: 0 } };
    for (const [key, contract] of Object.entries(role.provides)) handle[key] = endpoint(contract, `plan://${name}/${key}`, `${name}.${key}`);
    return Object.freeze(handle) as Vm<AnyRole>;
  }
}
