// The combinators, once: each records what it asks for in the FarmModel and, when the farm is real,
// has the realizer (the reconciler) bring it into being before it returns. Without a realizer the
// same code is a plan: `graph`, `plan` and `check` run scripts against it and nothing is created.
//
// Endpoints and VM handles are the model's own objects. The model knows each one it handed out
// (a WeakMap, so nothing leaks): an endpoint built by hand, copied with another URL, or taken from
// another farm is refused, and so is wiring that the types could not see (an import too many or too
// few, another contract) when a script got past the type checker.

import type { AnyContract, AnyEndpoint, AnyRole, Endpoint } from "../contracts/index.ts";
import { UnknownEndpointError, WiringError } from "../errors.ts";
import {
  routeId,
  type BalanceOptions,
  type Farm,
  type FarmEvent,
  type PartContracts,
  type RoutedContract,
  type SameContract,
  type AnyVm,
  type Vm,
} from "../farm/farm.ts";
import { formatHostPort, type HostPort } from "../../native-free-core/net/address.ts";
import { FarmModel, INTERMEDIARY_ENDPOINT, type EndpointRef, type IntermediaryNode, type VmNode } from "./farm-model.ts";

/** What makes a recorded farm real: the reconciler, or nothing at all for a plan. */
export interface Realizer {
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

const PREFIX = /^\/[A-Za-z0-9._~\-/]*$/;

/** A farm that only records: what `graph`, `plan` and `check` run a script against. Nothing is made. */
export function planFarm(name = "default"): RecordingFarm {
  return new RecordingFarm(new FarmModel(name), null);
}

export class RecordingFarm implements Farm {
  readonly name: string;
  readonly model: FarmModel;
  readonly #realizer: Realizer | null;
  readonly #endpoints = new WeakMap<object, { readonly ref: EndpointRef; readonly contract: AnyContract }>();
  readonly #vms = new WeakMap<object, string>();

  constructor(model: FarmModel, realizer: Realizer | null) {
    this.name = model.name;
    this.model = model;
    this.#realizer = realizer;
  }

  // ---- combinators --------------------------------------------------------------------------------

  async vm<R extends AnyRole>(role: R, imports: object): Promise<Vm<R>> {
    const node = this.#vmNode(this.model.nextName(role.name), role, imports, "vm");
    await this.#add([node]);
    return this.#vmHandle(node.name, role) as Vm<R>;
  }

  async replicate<R extends AnyRole>(n: number, role: R, imports: object): Promise<Vm<R>[]> {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`replicate: n must be a positive integer (got ${n})`);
    const nodes = Array.from({ length: n }, () => this.#vmNode(this.model.nextName(role.name), role, imports, "replicate"));
    // All or nothing: when one replica cannot be made, none stays.
    await this.#add(nodes);
    return nodes.map((node) => this.#vmHandle(node.name, role) as Vm<R>);
  }

  async balance<C extends AnyContract>(endpoints: SameContract<C>, options: BalanceOptions = {}): Promise<Endpoint<C>> {
    const list = endpoints as readonly AnyEndpoint[];
    if (!Array.isArray(list) || list.length === 0) throw new WiringError("balance", "endpoints", "at least one endpoint is required", "an empty list");
    const targets = list.map((e, i) => this.#resolve(e, `balance: endpoints[${i}]`));
    const contract = targets[0].contract;
    targets.forEach((t, i) => {
      if (t.contract.id !== contract.id) {
        throw new WiringError("balance", `endpoints[${i}]`, `every endpoint must serve ${contract.id}`, t.contract.id);
      }
    });
    const name = options.name ?? this.model.nextName(`${contract.name}-balancer`);
    const node: IntermediaryNode = {
      kind: "balancer",
      name,
      contract,
      policy: options.policy ?? "round-robin",
      pools: [{ name: "main", members: targets.map((t) => ({ ref: t.ref, backup: false })) }],
      routes: [],
    };
    await this.#add([node]);
    return this.#endpoint({ node: name, endpoint: INTERMEDIARY_ENDPOINT }, contract, `balancer ${name}`) as Endpoint<C>;
  }

  async route<const Parts extends { readonly [prefix: string]: AnyEndpoint }>(parts: Parts): Promise<Endpoint<RoutedContract<PartContracts<Parts>>>> {
    const entries = typeof parts === "object" && parts !== null ? Object.entries(parts) : [];
    if (entries.length === 0) throw new WiringError("route", "parts", "at least one prefix is required", "no parts");
    const contracts: Record<string, AnyContract> = {};
    const pools = entries.map(([prefix, e], i) => {
      if (!PREFIX.test(prefix) || prefix.split("/").some((s) => s === "." || s === "..")) {
        throw new WiringError("route", JSON.stringify(prefix), 'a prefix is a path starting with "/", without dot segments', prefix);
      }
      const target = this.#resolve(e, `route: ${JSON.stringify(prefix)}`);
      contracts[prefix] = target.contract;
      return { name: `route-${i}`, members: [{ ref: target.ref, backup: false }] };
    });
    const id = routeId(contracts);
    const operations = Object.assign({}, ...Object.values(contracts).map((c) => c.operations));
    const routed = Object.freeze({ kind: "contract", id, name: "route", version: 1, operations, parts: contracts }) as unknown as AnyContract;
    const name = this.model.nextName("router");
    const node: IntermediaryNode = {
      kind: "router",
      name,
      contract: routed,
      policy: "round-robin",
      pools: [{ name: "main", members: [] }, ...pools],
      routes: entries.map(([prefix], i) => ({ prefix, pool: `route-${i}` })),
    };
    await this.#add([node]);
    return this.#endpoint({ node: name, endpoint: INTERMEDIARY_ENDPOINT }, routed, `balancer ${name}`) as unknown as Endpoint<RoutedContract<PartContracts<Parts>>>;
  }

  async failover<C extends AnyContract>(primary: Endpoint<C>, backup: Endpoint<C>): Promise<Endpoint<C>> {
    const first = this.#resolve(primary, "failover: primary");
    const second = this.#resolve(backup, "failover: backup");
    if (second.contract.id !== first.contract.id) throw new WiringError("failover", "backup", `must serve ${first.contract.id}, as the primary does`, second.contract.id);
    const contract = first.contract;
    const name = this.model.nextName(`${contract.name}-failover`);
    const node: IntermediaryNode = {
      kind: "failover",
      name,
      contract,
      policy: "round-robin",
      pools: [{ name: "main", members: [{ ref: first.ref, backup: false }, { ref: second.ref, backup: true }] }],
      routes: [],
    };
    await this.#add([node]);
    return this.#endpoint({ node: name, endpoint: INTERMEDIARY_ENDPOINT }, contract, `balancer ${name}`) as Endpoint<C>;
  }

  async rewire<R extends AnyRole, K extends keyof R["requires"] & string>(vm: Vm<R>, importName: K, to: Endpoint<R["requires"][K]>): Promise<Vm<R>> {
    const name = this.#vmName(vm, "rewire");
    const node = this.model.node(name) as VmNode;
    const wanted = node.role.requires[importName];
    if (wanted === undefined) {
      throw new WiringError(name, String(importName), `role ${node.role.name} has no such import (it has ${listOf(Object.keys(node.role.requires))})`, String(importName));
    }
    const target = this.#resolve(to, `rewire ${name}.${String(importName)}`);
    if (target.contract.id !== wanted.id) throw new WiringError(name, String(importName), `wants ${wanted.id}`, target.contract.id);
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

  heal(vms: readonly AnyVm[]): void {
    vms.forEach((vm, i) => this.model.setHeal(this.#vmName(vm, `heal: vms[${i}]`), true));
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

  #vmNode(name: string, role: AnyRole, imports: object, combinator: string): VmNode {
    if (typeof imports !== "object" || imports === null || Array.isArray(imports)) {
      throw new WiringError(combinator, "imports", `an object of endpoints (role ${role.name} requires ${listOf(Object.keys(role.requires))})`, imports);
    }
    const given = imports as Record<string, AnyEndpoint>;
    const refs: Record<string, EndpointRef> = {};
    for (const [key, wanted] of Object.entries(role.requires)) {
      if (!(key in given)) throw new WiringError(name, key, `role ${role.name} requires it (${wanted.id}), but it was not given`, undefined);
      const target = this.#resolve(given[key], `${name}.${key}`);
      if (target.contract.id !== wanted.id) throw new WiringError(name, key, `wants ${wanted.id}`, target.contract.id);
      refs[key] = target.ref;
    }
    for (const key of Object.keys(given)) {
      if (!(key in role.requires)) {
        throw new WiringError(name, key, `role ${role.name} does not import it (it imports ${listOf(Object.keys(role.requires))})`, key);
      }
    }
    return { kind: "vm", name, role, imports: refs, heal: false };
  }

  #resolve(e: AnyEndpoint, where: string): { readonly ref: EndpointRef; readonly contract: AnyContract } {
    const found = this.refOf(e);
    if (found === undefined) throw new UnknownEndpointError(describeEndpoint(e), where);
    return found;
  }

  #vmName(vm: unknown, where: string): string {
    const name = this.vmNameOf(vm);
    if (name === undefined || this.model.node(name)?.kind !== "vm") {
      throw new UnknownEndpointError(`VM handle ${describeEndpoint(vm)}`, where);
    }
    return name;
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
    return frozen as Vm<AnyRole>;
  }
}

function listOf(names: readonly string[]): string {
  return names.length === 0 ? "nothing" : names.join(", ");
}

function describeEndpoint(e: unknown): string {
  if (typeof e !== "object" || e === null) return String(e);
  const url = (e as { url?: unknown }).url;
  return typeof url === "string" ? url : "(not an endpoint)";
}
