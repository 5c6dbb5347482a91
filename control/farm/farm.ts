// The Farm: the service combinators, typed against roles and contracts. Wiring mistakes (a wrong
// contract, a missing or extra import, mixed contracts behind one balancer) are type errors; what
// else the types refuse, and how they keep out of generic code's way, is in refuse.ts.

import type { Decision, Rule } from "../autoscale/decide.ts";
import type { AutoscaleOptions, RolePolicy } from "../autoscale/policy.ts";
import type { AnyContract, AnyEndpoint, AnyRole, Contract, Endpoint, ImportsOf, Operations } from "../contracts/index.ts";
import type { AutoscaleGroup, Count, ExactImports, FailoverEnd, IsAny, JoinIds, OneContract, Refuse, RewireTarget, RouteParts, UnionToIntersection } from "./refuse.ts";

declare const vmBrand: unique symbol;

/**
 * Any VM handle a farm gave out, of whatever role. Branded, so a handle cannot be written by hand
 * (the farm refuses one at run time too); its endpoints are typed by Vm<R>. A copy (`{ ...vm }`) keeps
 * the brand: only a class's private member would not, and a class's type in Vm<R>'s intersection buries
 * the compiler's "is missing the following properties" (a VM given for an endpoint) a level deeper. The
 * farm refuses a copy when the script runs, which `farmhand check` does.
 */
export interface AnyVm {
  /** Never present at run time: marks a handle that a farm made. */
  readonly [vmBrand]: string;
  readonly id: string;
  readonly name: string;
  readonly role: AnyRole;
  /** Where it serves now (a handle follows its VM when it moves). */
  readonly address: { readonly host: string; readonly port: number };
}

/**
 * A running VM of a role: its identity and the endpoints it provides, by name. Of a role whose
 * endpoints are not known (Vm<AnyRole>) it is any VM, with no endpoint to take: the endpoints' names
 * are then `string`, which is dropped rather than made an index signature that `id` and `name` fail.
 * (Spelt as an intersection with the plain AnyVm: with a generic interface in it, the compiler's "is
 * missing the following properties" for a VM given where an endpoint is wanted gets buried a level.)
 */
export type Vm<R extends AnyRole> = AnyVm & { readonly [vmBrand]: R["name"]; readonly role: R } & {
  readonly [K in keyof R["provides"] as string extends K ? never : K]: Endpoint<R["provides"][K]>;
};

type Equal<X, Y> = (<T>() => T extends X ? 1 : 2) extends (<T>() => T extends Y ? 1 : 2) ? true : false;

/**
 * The members of a union of handle types that are copies: a spread (`{ ...vm, name }`) keeps the brand
 * but not its `readonly`, which the farm's own handles have. (Object.assign keeps both; the farm
 * refuses such a copy when the script runs, as `farmhand check` does.)
 */
type Copies<E> = E extends unknown ? (Equal<Pick<E, typeof vmBrand & keyof E>, { readonly [K in typeof vmBrand & keyof E]: E[K] }> extends true ? never : E) : never;

/**
 * VM handles for `heal`: any the farm made, of any roles; a copy of one is refused, and so is a list
 * typed any (`heal<any[]>(...)`), which could hold anything at all. A variadic tuple (outside the
 * refusal, where the compiler would lose it) so that a list literal is inferred element by element: as
 * an array its element type would be one union, in which a copy and its original, each assignable to
 * the other, are one type.
 */
export type HealList<V extends readonly AnyVm[]> = readonly [...V] & Refuse<
  IsAny<V[number]> extends true ? true : [Copies<V[number]>] extends [never] ? false : true,
  unknown,
  IsAny<V[number]> extends true
    ? "farmhand: heal: the list is typed any, so a value in it may be no VM handle made by this farm; give the handles the farm handed out"
    : "farmhand: heal: a VM handle here is a copy ({ ...vm }); give the one the farm handed out"
>;

export type BalancePolicy = "round-robin" | "least-request" | "consistent-hash" | "random";

export interface BalanceOptions {
  readonly policy?: BalancePolicy;
  /** Name of the pool (and of the balancer in status and graphs). */
  readonly name?: string;
  /**
   * Check requests against the contract at the balancer: a request that matches no operation (404,
   * 405) or whose body does not fit the operation's schema (400) is answered there and never reaches
   * a VM. Off by default: the services check their own requests anyway, and this costs CPU per request.
   */
  readonly validate?: boolean;
}

export interface RouteOptions {
  /** As BalanceOptions.validate, against the operations of every routed contract, each under its prefix. */
  readonly validate?: boolean;
}

/**
 * Endpoints of exactly one contract the type checker knows. A list mixing contracts is refused:
 * TypeScript infers C from one of the list's contracts and reports the endpoints of the others (TS2322
 * on an array literal's element, TS2345 on a list built beforehand). A C that is a union (given as
 * `balance<A | B>(...)`, or an endpoint typed with one), a general contract (endpoints typed `Endpoint`),
 * `any` or none (an empty list) turns the parameter into a sentence saying so. A generic helper
 * (`<C extends AnyContract>(eps: readonly Endpoint<C>[]) => farm.balance(eps)`) is let through. See
 * test/types/fail/balance-*.ts.
 */
export type SameContract<C> = OneContract<C, "balance", readonly Endpoint<C>[]>;

/** The contracts behind routed endpoints, by prefix. */
export type PartContracts<Parts extends RoutableParts> = {
  readonly [P in keyof Parts]: Parts[P]["contract"] extends infer C extends AnyContract ? C : never;
};

/**
 * What `route` takes before RouteParts looks closer: endpoints by prefix, of any contract, a generic
 * helper's `Endpoint<C>` included (C need not be declared a contract, as for `balance`). Endpoint<any>
 * is the one endpoint type every Endpoint<C> is assignable to, C generic or not; RouteParts refuses
 * a part typed any.
 */
export type RoutableParts = { readonly [prefix: string]: Endpoint<any> };

/**
 * The id of a routed contract: the distinct ids of its parts, sorted, joined by "+", in "route(...)",
 * e.g. "route(orders@1+payments@1)". `routeId` computes the same string at run time.
 */
export type RouteId<Parts extends { readonly [prefix: string]: AnyContract }> = `route(${JoinIds<Parts[keyof Parts]["id"]>})`;

/** The operations of a routed contract: those of every part (the intersection of their types). */
export type RoutedOperations<Parts extends { readonly [prefix: string]: AnyContract }> =
  UnionToIntersection<Parts[keyof Parts]["operations"]> extends infer Ops extends Operations ? Ops : never;

/** A front endpoint's contract whose operations are those of every routed contract, by path prefix. */
export type RoutedContract<Parts extends { readonly [prefix: string]: AnyContract }> = Contract<RouteId<Parts>, RoutedOperations<Parts>> & {
  readonly parts: Parts;
};

/** The run-time id of a routed contract, the same string as its type `RouteId`. */
export function routeId(parts: { readonly [prefix: string]: AnyContract }): string {
  const ids = [...new Set(Object.values(parts).map((c) => c.id))].sort();
  return `route(${ids.join("+")})`;
}

export type FarmEvent =
  | { readonly type: "vm-started"; readonly vm: string; readonly role: string }
  | { readonly type: "vm-failed"; readonly vm: string; readonly role: string; readonly reason: string }
  | { readonly type: "vm-stopped"; readonly vm: string; readonly role: string }
  /**
   * A failed VM under `heal` serves again at `address` (host:port): started again as it was, or
   * replaced by a new VM of the same name.
   */
  | { readonly type: "vm-healed"; readonly vm: string; readonly role: string; readonly how: "restarted" | "replaced"; readonly address: string }
  /**
   * A VM restarted with the imports in `imports` (name -> URL) changed, now serving at `address`: by
   * `rewire`, or because a VM it imported directly came back on another address.
   */
  | { readonly type: "vm-rewired"; readonly vm: string; readonly role: string; readonly imports: Readonly<Record<string, string>>; readonly address: string }
  | { readonly type: "pool-changed"; readonly pool: string; readonly backends: readonly string[] }
  /**
   * An autoscaled group was evaluated: its demand per metric (null when unread), demand over
   * capacity, what demand alone recommends, the rule that settled it, and the size from -> to.
   */
  | {
      readonly type: "autoscale";
      readonly group: string;
      readonly role: string;
      readonly demand: readonly (number | null)[];
      readonly ratio: number | null;
      readonly recommendation: number;
      readonly rule: Rule;
      readonly from: number;
      readonly to: number;
      readonly ready: number;
      /** Why a metric could not be read, when one could not. */
      readonly errors: readonly string[];
    }
  | ControlErrorEvent;

/**
 * Something the controller did in the background failed, and is tried again by itself: destroying a
 * VM the farm no longer holds (at the next resync), an autoscaler's evaluation (at its next sync),
 * setting a balancer's pools (at the next resync). `subject` is the VM, group or balancer.
 */
export type ControlErrorEvent = {
  readonly type: "control-error";
  readonly action: "destroy" | "autoscale" | "sync-pools";
  readonly subject: string;
  readonly reason: string;
};

/** What `farm.autoscale` gives back: the group's scaler, as it is now. */
export interface Autoscaled {
  /** The group: the name of the balancer whose pool it is. */
  readonly group: string;
  /** Replicas in the group now (starting ones included). */
  readonly replicas: number;
  /** The latest decisions, newest last (at most 100). */
  readonly decisions: readonly Decision[];
}

export interface Farm {
  readonly name: string;
  /**
   * Creates and starts one VM of `role`, wired to exactly the imports the role requires: I is what was
   * given, inferred so that an object built beforehand or spread is held to the role's imports too.
   */
  vm<R extends AnyRole, I = ImportsOf<R>>(role: R, imports: ExactImports<R, I>): Promise<Vm<R>>;
  /** n VMs of one role, wired alike. */
  replicate<R extends AnyRole, I = ImportsOf<R>, const N extends number = number>(n: Count<N>, role: R, imports: ExactImports<R, I>): Promise<Vm<R>[]>;
  /** A balancer in front of endpoints of one contract; returns its endpoint, of that contract. */
  balance<C = never>(endpoints: SameContract<C>, options?: BalanceOptions): Promise<Endpoint<C>>;
  /**
   * One front endpoint in front of several, by path prefix: a request whose path starts with a prefix
   * goes to that prefix's endpoint. Its contract offers the operations of every routed contract, under
   * its own id ("route(orders@1+payments@1)"), so it is never taken for one of the parts.
   */
  route<const Parts extends RoutableParts>(parts: RouteParts<Parts>, options?: RouteOptions): Promise<Endpoint<RoutedContract<PartContracts<Parts>>>>;
  /** Traffic to `primary`, or to `backup` while `primary` is down: two endpoints of one contract. */
  failover<C = never, P = Endpoint<C>, B = Endpoint<C>>(primary: FailoverEnd<C, P, B>, backup: FailoverEnd<C, B, P>): Promise<Endpoint<C>>;
  /**
   * Points a running VM's import at another endpoint of the same contract. The VM leaves its
   * balancers, is stopped, rewired and started again (a process takes its imports at start), and
   * rejoins them. It is the same VM, normally on the same address; the handle returned is the one to
   * use from then on, and should the address change, VMs that import it directly follow.
   */
  rewire<R extends AnyRole, K extends keyof R["requires"] & string, To = Endpoint<R["requires"][K]>>(vm: Vm<R>, importName: K, to: RewireTarget<R, K, To>): Promise<Vm<R>>;
  /**
   * Keeps the VMs of `vms` alive: a failed one leaves every balancer at once, is started again (or,
   * when that fails, replaced by a VM of the same name) with backoff, and rejoins its balancers; VMs
   * and routers that import it directly follow a replacement to its new address.
   */
  heal<V extends readonly AnyVm[] = readonly AnyVm[]>(vms: HealList<V>): void;
  /**
   * Resizes a balanced group with demand: the group is the members of one balancer's pool, replicas
   * of one role wired alike (as `replicate` and `balance` make them). New replicas join the pool once
   * they serve; retired ones are drained there first. A policy made for another role does not fit.
   */
  autoscale<R extends AnyRole>(group: AutoscaleGroup<R>, policy: RolePolicy<R>): Autoscaled;
  autoscale<R extends AnyRole, const Min extends number, const Max extends number>(group: AutoscaleGroup<R>, options: AutoscaleOptions<Min, Max>): Autoscaled;
  /** Typed stream of what happens in the farm. */
  on(listener: (event: FarmEvent) => void): () => void;
  /** Stops and destroys everything this farm created. */
  teardown(): Promise<void>;
}
