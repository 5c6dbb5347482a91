// The combinators, once: each records what it asks for in the FarmModel and, when the farm is real,
// has the realizer (the reconciler) bring it into being before it returns. Without a realizer the
// same code is a plan: `graph`, `plan` and `check` run scripts against it and nothing is created.
//
// Endpoints and VM handles are the model's own objects. The model knows each one it handed out
// (a WeakMap, so nothing leaks): an endpoint built by hand, copied with another URL, or taken from
// another farm is refused, and so is wiring that the types could not see (an import too many or too
// few, another contract, an empty pool, a route prefix) when a script got past the type checker. A
// plan told to (`onMistake`, what `farmhand check` does) reports each such mistake and goes on, so
// that one run finds them all.

import { completePolicy, isPolicy, type AutoscaleOptions, type AutoscalePolicy, type RolePolicy } from "../autoscale/policy.ts";
import type { AnyContract, AnyEndpoint, AnyRole, Endpoint, ImportsOf } from "../contracts/index.ts";
import { UnknownEndpointError, WiringError } from "../errors.ts";
import {
  routeId,
  type BalanceOptions,
  type RouteOptions,
  type BalancePolicy,
  type Farm,
  type FarmEvent,
  type PartContracts,
  type RoutableParts,
  type RoutedContract,
  type SameContract,
  type AnyVm,
  type Autoscaled,
  type HealList,
  type Vm,
} from "../farm/farm.ts";
import type { AutoscaleGroup, Count, ExactImports, FailoverEnd, RewireTarget, RouteParts } from "../farm/refuse.ts";
import { ROUTE_PREFIX } from "../../native-free-core/config.ts";
import { formatHostPort, type HostPort } from "../../native-free-core/net/address.ts";
import { FarmModel, INTERMEDIARY_ENDPOINT, type EndpointRef, type IntermediaryNode, type VmNode } from "./farm-model.ts";

/** What makes a recorded farm real: the reconciler, or nothing at all for a plan. */
export interface Realizer {
  /** Starts resizing the group (a balancer's pool) that the model now says autoscales. */
  autoscale(group: string): Autoscaled;
  /**
   * Brings these nodes of the model into being (or, for one already there, into line with it).
   * Rejects when any cannot be; what it made of them is gone again by then.
   */
  realize(names: readonly string[]): Promise<void>;
  /** The VM serving a node now, or null while none does. */
  realized(node: string): { readonly id: string; readonly address: HostPort } | null;
  on(listener: (event: FarmEvent) => void): () => void;
  teardown(): Promise<void>;
}

/** What a node may be named (it becomes a VM's name and labels): as farm names are. */
const NODE_NAME = /^[a-z][a-z0-9-]{0,62}$/;
const POLICIES: readonly BalancePolicy[] = ["round-robin", "least-request", "consistent-hash", "random"];

/** How a recording farm treats a wiring mistake. */
export interface RecordingOptions {
  /**
   * Hears each wiring mistake (a WiringError or UnknownEndpointError) instead of having it thrown: the
   * farm records what it can and goes on, so that one run of a script finds every mistake (`farmhand
   * check`). What a combinator cannot go on from is still thrown. Without it, the first one is thrown.
   */
  readonly onMistake?: (mistake: WiringError | UnknownEndpointError) => void;
}

/**
 * The contract of what a mistake left unknown (a balancer over no endpoint the farm made): compared
 * with nothing, so that one mistake is reported once, not again by everything wired to it.
 */
const UNKNOWN_CONTRACT: AnyContract = Object.freeze({ kind: "contract", id: "unknown@0", name: "unknown", version: 0, operations: {} }) as AnyContract;
const sameContract = (a: AnyContract, b: AnyContract): boolean => a === UNKNOWN_CONTRACT || b === UNKNOWN_CONTRACT || a.id === b.id;

type Target = { readonly ref: EndpointRef; readonly contract: AnyContract };

/** A farm that only records: what `graph`, `plan` and `check` run a script against. Nothing is made. */
export function planFarm(name = "default", options: RecordingOptions = {}): RecordingFarm {
  return new RecordingFarm(new FarmModel(name), null, options);
}

export class RecordingFarm implements Farm {
  readonly name: string;
  readonly model: FarmModel;
  readonly #realizer: Realizer | null;
  readonly #onMistake: RecordingOptions["onMistake"];
  readonly #endpoints = new WeakMap<object, Target>();
  readonly #vms = new WeakMap<object, string>();

  constructor(model: FarmModel, realizer: Realizer | null, options: RecordingOptions = {}) {
    this.name = model.name;
    this.model = model;
    this.#realizer = realizer;
    this.#onMistake = options.onMistake;
  }

  // ---- combinators --------------------------------------------------------------------------------

  async vm<R extends AnyRole, I = ImportsOf<R>>(role: R, imports: ExactImports<R, I>): Promise<Vm<R>> {
    assertRole(role, "vm");
    const node = this.#vmNode(this.model.nextName(role.name), role, imports);
    await this.#add([node]);
    return this.#vmHandle(node.name, role) as Vm<R>;
  }

  async replicate<R extends AnyRole, I = ImportsOf<R>, const N extends number = number>(n: Count<N>, role: R, imports: ExactImports<R, I>): Promise<Vm<R>[]> {
    if (!Number.isInteger(n) || (n as number) < 1) throw new RangeError(`replicate: n must be a positive integer (got ${String(n)})`);
    assertRole(role, "replicate");
    const nodes = Array.from({ length: n as number }, () => this.#vmNode(this.model.nextName(role.name), role, imports));
    // All or nothing: when one replica cannot be made, none stays.
    await this.#add(nodes);
    return nodes.map((node) => this.#vmHandle(node.name, role) as Vm<R>);
  }

  async balance<C = never>(endpoints: SameContract<C>, options: BalanceOptions = {}): Promise<Endpoint<C>> {
    const list: readonly unknown[] = Array.isArray(endpoints) ? endpoints : [];
    if (!Array.isArray(endpoints)) this.#mistake(new WiringError("balance", "endpoints", "must be a list of endpoints", endpoints));
    else if (list.length === 0) this.#mistake(new WiringError("balance", "endpoints", "are empty: a balancer needs at least one", undefined));
    const targets = list.map((e, i) => this.#resolve(e, "balance", `endpoints[${i}]`)).filter((t) => t !== null);
    const contract = targets[0]?.contract ?? UNKNOWN_CONTRACT;
    targets.forEach((t, i) => {
      if (!sameContract(t.contract, contract)) this.#mistake(new WiringError("balance", `endpoints[${i}]`, `must serve ${contract.id}, as endpoints[0] does`, t.contract.id));
    });
    const name = this.#balancerName(options.name) ?? this.model.nextName(`${contract.name}-balancer`);
    const node: IntermediaryNode = {
      kind: "balancer",
      name,
      contract,
      policy: this.#policy(options.policy),
      pools: [{ name: "main", members: targets.filter((t) => sameContract(t.contract, contract)).map((t) => ({ ref: t.ref, backup: false })) }],
      routes: [],
      ...(this.#validate("balance", options.validate) ? { validate: true } : {}),
    };
    await this.#add([node]);
    return this.#endpoint({ node: name, endpoint: INTERMEDIARY_ENDPOINT }, contract, `balancer ${name}`) as Endpoint<C>;
  }

  async route<const Parts extends RoutableParts>(parts: RouteParts<Parts>, options: RouteOptions = {}): Promise<Endpoint<RoutedContract<PartContracts<Parts>>>> {
    const entries: [string, unknown][] = typeof parts === "object" && parts !== null ? Object.entries(parts) : [];
    if (entries.length === 0) this.#mistake(new WiringError("route", "parts", "are empty: a route needs at least one path prefix", typeof parts === "object" ? undefined : parts));
    const contracts: Record<string, AnyContract> = {};
    const routed: { prefix: string; target: Target }[] = [];
    for (const [prefix, e] of entries) {
      const problem = prefixProblem(prefix);
      if (problem !== null) this.#mistake(new WiringError("route", `prefix ${JSON.stringify(prefix)}`, problem, undefined));
      const target = this.#resolve(e, "route", `part ${JSON.stringify(prefix)}`);
      if (target === null) continue;
      contracts[prefix] = target.contract;
      routed.push({ prefix, target });
    }
    const id = routeId(contracts);
    const operations = Object.assign({}, ...Object.values(contracts).map((c) => c.operations));
    const contract = routed.length === 0 ? UNKNOWN_CONTRACT : Object.freeze({ kind: "contract", id, name: "route", version: 1, operations, parts: contracts }) as unknown as AnyContract;
    const name = this.model.nextName("router");
    const node: IntermediaryNode = {
      kind: "router",
      name,
      contract,
      policy: "round-robin",
      pools: [{ name: "main", members: [] }, ...routed.map((r, i) => ({ name: `route-${i}`, members: [{ ref: r.target.ref, backup: false }] }))],
      routes: routed.map((r, i) => ({ prefix: r.prefix, pool: `route-${i}` })),
      ...(this.#validate("route", options?.validate) ? { validate: true } : {}),
    };
    await this.#add([node]);
    return this.#endpoint({ node: name, endpoint: INTERMEDIARY_ENDPOINT }, contract, `balancer ${name}`) as unknown as Endpoint<RoutedContract<PartContracts<Parts>>>;
  }

  async failover<C = never, P = Endpoint<C>, B = Endpoint<C>>(primary: FailoverEnd<C, P, B>, backup: FailoverEnd<C, B, P>): Promise<Endpoint<C>> {
    const first = this.#resolve(primary, "failover", "primary");
    const second = this.#resolve(backup, "failover", "backup");
    const contract = first?.contract ?? second?.contract ?? UNKNOWN_CONTRACT;
    if (first !== null && second !== null && !sameContract(first.contract, second.contract)) {
      this.#mistake(new WiringError("failover", "backup", `must serve ${first.contract.id}, as the primary does`, second.contract.id));
    }
    const members = [
      ...(first === null ? [] : [{ ref: first.ref, backup: false }]),
      ...(second === null || !sameContract(second.contract, contract) ? [] : [{ ref: second.ref, backup: true }]),
    ];
    const name = this.model.nextName(`${contract.name}-failover`);
    const node: IntermediaryNode = { kind: "failover", name, contract, policy: "round-robin", pools: [{ name: "main", members }], routes: [] };
    await this.#add([node]);
    return this.#endpoint({ node: name, endpoint: INTERMEDIARY_ENDPOINT }, contract, `balancer ${name}`) as Endpoint<C>;
  }

  async rewire<R extends AnyRole, K extends keyof R["requires"] & string, To = Endpoint<R["requires"][K]>>(vm: Vm<R>, importName: K, to: RewireTarget<R, K, To>): Promise<Vm<R>> {
    const name = this.#handle(vm, "rewire", "vm");
    if (name === null) return vm;
    const node = this.model.node(name) as VmNode;
    const field = `import ${String(importName)}`;
    const wanted = Object.hasOwn(node.role.requires, importName) ? node.role.requires[importName] : undefined;
    if (wanted === undefined) {
      this.#mistake(new WiringError(name, field, `is not an import of role ${node.role.name} (it imports ${listOf(Object.keys(node.role.requires))})`, undefined));
      return vm;
    }
    const target = this.#resolve(to, name, field);
    if (target === null) return vm;
    if (!sameContract(target.contract, wanted)) {
      this.#mistake(new WiringError(name, field, `wants ${wanted.id}`, target.contract.id));
      return vm;
    }
    this.model.setImport(name, importName, target.ref);
    if (this.#realizer !== null) {
      try {
        await this.#realizer.realize([name]);
      } catch (error) {
        // A VM that does not come back from its rewire has been removed: nothing half-rewired stays.
        this.model.remove(name);
        throw error;
      }
    }
    return vm;
  }

  autoscale<R extends AnyRole>(group: AutoscaleGroup<R>, policy: RolePolicy<R>): Autoscaled;
  autoscale<R extends AnyRole, const Min extends number, const Max extends number>(group: AutoscaleGroup<R>, options: AutoscaleOptions<Min, Max>): Autoscaled;
  autoscale(group: unknown, policy: AutoscalePolicy | AutoscaleOptions): Autoscaled {
    // A group that cannot be autoscaled is a wiring mistake like another: a plan goes on without it.
    const refused = (error: WiringError | UnknownEndpointError): Autoscaled => {
      this.#mistake(error);
      return { group: "", replicas: 0, decisions: [] };
    };
    if (!Array.isArray(group)) return refused(new WiringError("autoscale", "group", "must be the VMs of a balanced group", describeValue(group)));
    if (group.length === 0) return refused(new WiringError("autoscale", "group", "is empty: autoscale the VMs of a balanced group", undefined));
    const names: string[] = [];
    for (const [i, vm] of (group as readonly unknown[]).entries()) {
      const name = this.vmNameOf(vm);
      if (name === undefined || this.model.node(name)?.kind !== "vm") {
        return refused(notAHandle(vm, "autoscale", `group[${i}]`));
      }
      names.push(name);
    }
    const nodes = names.map((n) => this.model.node(n) as VmNode);
    const role = nodes[0].role;
    const imports = nodes[0].imports;
    for (const [i, n] of nodes.entries()) {
      if (n.role !== role) return refused(new WiringError("autoscale", `group[${i}]`, `every replica must be of role ${role.name}`, n.role.name));
      if (JSON.stringify(n.imports) !== JSON.stringify(imports)) return refused(new WiringError("autoscale", `group[${i}]`, `every replica must import what ${nodes[0].name} imports`, n.name));
    }
    // The group is the whole of one pool of one balancer: that is what is resized.
    const wanted = [...names].sort().join(",");
    const home = this.model.nodes.flatMap((n) => n.kind === "vm" ? [] : n.pools
      .filter((p) => p.members.length > 0 && p.members.map((m) => m.ref.node).sort().join(",") === wanted)
      .map((p) => ({ balancer: n.name, pool: p.name, endpoint: p.members[0].ref.endpoint })));
    if (home.length !== 1) {
      return refused(new WiringError("autoscale", "group", home.length === 0
        ? "must be the members of one balancer's pool (balance(group.map((vm) => vm.api)))"
        : `is the pool of ${home.length} balancers (${home.map((h) => h.balancer).join(", ")}); autoscale one`, names.join(", ")));
    }
    const complete = isPolicy(policy) ? policy : completePolicy(`autoscale ${home[0].balancer}`, policy as AutoscaleOptions);
    if (this.model.autoscalers.some((a) => a.balancer === home[0].balancer)) return refused(new WiringError("autoscale", "group", "already autoscales", home[0].balancer));
    this.model.setAutoscale({ ...home[0], role, imports, policy: complete });
    return this.#realizer?.autoscale(home[0].balancer) ?? { group: home[0].balancer, replicas: names.length, decisions: [] };
  }

  heal<V extends readonly AnyVm[] = readonly AnyVm[]>(vms: HealList<V>): void {
    if (!Array.isArray(vms)) {
      this.#mistake(new WiringError("heal", "vms", "must be a list of VM handles", vms));
      return;
    }
    vms.forEach((vm, i) => {
      const name = this.#handle(vm, "heal", `vms[${i}]`);
      if (name !== null) this.model.setHeal(name, true);
    });
  }

  on(listener: (event: FarmEvent) => void): () => void {
    return this.#realizer?.on(listener) ?? (() => {});
  }

  /** Removes everything the farm made; a plan made nothing and keeps its model. */
  async teardown(): Promise<void> {
    await this.#realizer?.teardown();
  }

  // ---- the model's objects --------------------------------------------------------------------------

  /** Where an endpoint points and what it serves, when this farm made it. */
  refOf(e: AnyEndpoint): { readonly ref: EndpointRef; readonly contract: AnyContract } | undefined {
    return typeof e === "object" && e !== null ? this.#endpoints.get(e) : undefined;
  }

  /** The node behind a VM handle this farm made. */
  vmNameOf(vm: unknown): string | undefined {
    return typeof vm === "object" && vm !== null ? this.#vms.get(vm) : undefined;
  }

  async #add(nodes: readonly (VmNode | IntermediaryNode)[]): Promise<void> {
    for (const node of nodes) this.model.add(node);
    if (this.#realizer === null) return;
    try {
      await this.#realizer.realize(nodes.map((n) => n.name));
    } catch (error) {
      for (const node of nodes) this.model.remove(node.name);
      throw error;
    }
  }

  /** Whether the balancer checks contracts (options.validate); anything but a boolean is a mistake. */
  #validate(combinator: "balance" | "route", validate: unknown): boolean {
    if (validate === undefined || typeof validate === "boolean") return validate === true;
    this.#mistake(new WiringError(combinator, "options.validate", "must be true or false", describeValue(validate)));
    return false;
  }

  /** A balancer's own name, when it is one a node can have and no other has; otherwise the mistake, and none. */
  #balancerName(name: unknown): string | undefined {
    if (name === undefined) return undefined;
    if (typeof name !== "string" || !NODE_NAME.test(name)) {
      this.#mistake(new WiringError("balance", "options.name", 'must be a name of lower-case letters, digits and "-", starting with a letter', describeValue(name)));
      return undefined;
    }
    if (this.model.node(name) !== undefined) {
      this.#mistake(new WiringError("balance", "options.name", `is taken: ${name} is already a ${this.model.node(name)!.kind === "vm" ? "VM" : "balancer"} of this farm`, undefined));
      return undefined;
    }
    return name;
  }

  #policy(policy: unknown): BalancePolicy {
    if (policy === undefined) return "round-robin";
    if (typeof policy === "string" && (POLICIES as readonly string[]).includes(policy)) return policy as BalancePolicy;
    this.#mistake(new WiringError("balance", "options.policy", `must be one of ${POLICIES.join(", ")}`, describeValue(policy)));
    return "round-robin";
  }

  /** Throws a wiring mistake, or reports it and returns when the farm goes on after mistakes. */
  #mistake(error: WiringError | UnknownEndpointError): void {
    if (this.#onMistake === undefined) throw error;
    this.#onMistake(error);
  }

  #vmNode(name: string, role: AnyRole, imports: unknown): VmNode {
    let given: Readonly<Record<string, unknown>> = {};
    if (typeof imports !== "object" || imports === null || Array.isArray(imports)) {
      this.#mistake(new WiringError(name, "imports", `must be an object of endpoints (role ${role.name} imports ${listOf(Object.keys(role.requires))})`, describeValue(imports)));
    } else {
      given = imports as Readonly<Record<string, unknown>>;
    }
    const refs: Record<string, EndpointRef> = {};
    for (const [key, wanted] of Object.entries(role.requires)) {
      const field = `import ${key}`;
      if (!Object.hasOwn(given, key)) {
        this.#mistake(new WiringError(name, field, `is missing (role ${role.name} requires ${key}: ${wanted.id})`, undefined));
        continue;
      }
      const target = this.#resolve(given[key], name, field);
      if (target === null) continue;
      if (!sameContract(target.contract, wanted)) this.#mistake(new WiringError(name, field, `wants ${wanted.id}`, target.contract.id));
      refs[key] = target.ref;
    }
    for (const key of Object.keys(given)) {
      if (!Object.hasOwn(role.requires, key)) {
        this.#mistake(new WiringError(name, `import ${key}`, `is not an import of role ${role.name} (it imports ${listOf(Object.keys(role.requires))})`, undefined));
      }
    }
    return { kind: "vm", name, role, imports: refs, heal: false };
  }

  /**
   * What an endpoint given to `node`'s `field` points at, when this farm made it; otherwise the mistake
   * (a Promise gets its own: the await is what is missing), and null when the farm goes on after it.
   */
  #resolve(e: unknown, node: string, field: string): Target | null {
    const found = typeof e === "object" && e !== null ? this.#endpoints.get(e) : undefined;
    if (found !== undefined) return found;
    if (isThenable(e)) {
      this.#mistake(new WiringError(node, field, "is a Promise: an await is missing before the combinator that makes it", undefined));
    } else if (typeof e !== "object" || e === null) {
      this.#mistake(new WiringError(node, field, "is no endpoint", describeValue(e)));
    } else if (this.vmNameOf(e) !== undefined) {
      const vm = this.model.node(this.vmNameOf(e)!) as VmNode;
      const ends = Object.keys(vm.role.provides).length === 0 ? "none: its role provides no endpoint" : `its ${Object.keys(vm.role.provides).join(", ")}`;
      this.#mistake(new WiringError(node, field, `is the VM ${vm.name}, where an endpoint is wanted: give one of its endpoints (${ends})`, undefined));
    } else if ((e as { kind?: unknown }).kind === "contract") {
      this.#mistake(new WiringError(node, field, "is a contract, where an endpoint is wanted: give an endpoint that serves it", (e as AnyContract).id));
    } else {
      this.#mistake(new UnknownEndpointError(describeEndpoint(e), `${node}: ${field}`));
    }
    return null;
  }

  /** The VM node behind a handle given to `node`'s `field`, or the mistake (and null when the farm goes on). */
  #handle(vm: unknown, node: string, field: string): string | null {
    const name = this.vmNameOf(vm);
    if (name !== undefined && this.model.node(name)?.kind === "vm") return name;
    this.#mistake(notAHandle(vm, node, field));
    return null;
  }

  /** An endpoint whose URL is the VM's address once there is one, and plan://node/endpoint before. */
  #endpoint(ref: EndpointRef, contract: AnyContract, label: string): AnyEndpoint {
    const realizer = this.#realizer;
    const e = Object.freeze({
      contract,
      label,
      get url(): string {
        const at = realizer?.realized(ref.node) ?? null;
        return at === null ? `plan://${ref.node}/${ref.endpoint}` : `http://${formatHostPort(at.address)}`;
      },
    });
    this.#endpoints.set(e, { ref, contract });
    return e as unknown as AnyEndpoint;
  }

  #vmHandle(name: string, role: AnyRole): Vm<AnyRole> {
    const realizer = this.#realizer;
    const handle: Record<string, unknown> = {
      name,
      role,
      get id(): string {
        return realizer?.realized(name)?.id ?? `plan:${name}`;
      },
      get address(): HostPort {
        return realizer?.realized(name)?.address ?? { host: name, port: 0 };
      },
    };
    for (const [key, contract] of Object.entries(role.provides)) {
      handle[key] = this.#endpoint({ node: name, endpoint: key }, contract, `${name}.${key}`);
    }
    const frozen = Object.freeze(handle);
    this.#vms.set(frozen, name);
    return frozen as unknown as Vm<AnyRole>;
  }
}

/**
 * What a VM is made of must be a role (a cast can pass anything, a VM handle say): without its
 * imports and endpoints there is nothing to record, so this is thrown even by a plan that goes on.
 */
function assertRole(role: unknown, combinator: string): void {
  const r = role as Partial<AnyRole> | null;
  if (typeof r === "object" && r !== null && r.kind === "role" && typeof r.name === "string" && typeof r.requires === "object" && typeof r.provides === "object") return;
  const handle = typeof r === "object" && r !== null && "address" in r && typeof r.name === "string";
  const what = isThenable(role) ? "a Promise" : handle ? `a VM handle (${describeHandle(role)})` : describeValue(role);
  throw new WiringError(combinator, "role", "must be a role (from role(...) or the generated environment)", what);
}

/**
 * What keeps `prefix` from being a route prefix, or null: the balancer's own rule (ROUTE_PREFIX), and
 * no "." or ".." segment, which a client's path would have to hold as such to match. The types say the
 * same (PrefixProblem in farm/refuse.ts), in the same order.
 */
function prefixProblem(prefix: string): string | null {
  if (!prefix.startsWith("/")) return 'is not a path: a prefix starts with "/"';
  if (prefix.split("/").some((s) => s === "." || s === "..")) return 'has a "." or ".." segment';
  for (const c of prefix) {
    if (!ROUTE_PREFIX.test(`/${c}`)) return `holds ${JSON.stringify(c)}: after its "/", a prefix holds only letters, digits and ${PREFIX_PUNCTUATION}`;
  }
  return null;
}

/** What a route prefix may hold besides letters and digits, read off ROUTE_PREFIX: !$%&'()*+,-./:;=@_~ */
const PREFIX_PUNCTUATION = Array.from({ length: 0x7f - 0x21 }, (_, i) => String.fromCharCode(0x21 + i))
  .filter((c) => !/[A-Za-z0-9]/.test(c) && ROUTE_PREFIX.test(`/${c}`))
  .join("");

function listOf(names: readonly string[]): string {
  return names.length === 0 ? "nothing" : names.join(", ");
}

function isThenable(value: unknown): boolean {
  return (typeof value === "object" || typeof value === "function") && value !== null && typeof (value as { then?: unknown }).then === "function";
}

/**
 * Why `vm`, given to `node`'s `field` where a VM handle of this farm is wanted, is none. Something with
 * a VM's name is a handle not of this farm (a copy, one from another farm, one written out); anything
 * else is no VM handle at all, and is said to be just that.
 */
function notAHandle(vm: unknown, node: string, field: string): WiringError | UnknownEndpointError {
  if (isThenable(vm)) return new WiringError(node, field, "is a Promise: an await is missing before the combinator that makes it", undefined);
  const name = typeof vm === "object" && vm !== null ? (vm as { name?: unknown }).name : undefined;
  if (typeof name === "string") return new UnknownEndpointError(`VM handle ${JSON.stringify(name)}`, `${node}: ${field}`);
  const url = typeof vm === "object" && vm !== null ? (vm as { url?: unknown }).url : undefined;
  const got = typeof url === "string" ? `endpoint ${url}` : vm === undefined || typeof vm === "string" ? describeValue(vm) : vm;
  return new WiringError(node, field, "is not a VM handle made by this farm", got);
}

function describeHandle(vm: unknown): string {
  const name = typeof vm === "object" && vm !== null ? (vm as { name?: unknown }).name : undefined;
  return typeof name === "string" ? JSON.stringify(name) : describeEndpoint(vm);
}

function describeEndpoint(e: unknown): string {
  if (typeof e !== "object" || e === null) return describeValue(e);
  const url = (e as { url?: unknown }).url;
  return typeof url === "string" ? url : "(not an endpoint)";
}

/** A value as a message shows it: strings quoted, so that `undefined` and "undefined" differ. */
function describeValue(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}
