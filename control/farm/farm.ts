// The Farm: the service combinators, typed against roles and contracts. Wiring mistakes (a wrong
// contract, a missing or extra import, mixed contracts behind one balancer) are type errors.

import type { AnyContract, AnyEndpoint, AnyRole, Contract, Endpoint, ImportsOf, Operations, ProvidedOf } from "../contracts/index.ts";

declare const vmBrand: unique symbol;

/**
 * Any VM handle a farm gave out, of whatever role. Branded, so a handle cannot be written by hand
 * (the farm refuses one at run time too); its endpoints are typed by Vm<R>.
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

/** A running VM of a role: its identity and the endpoints it provides, by name. */
export type Vm<R extends AnyRole> = AnyVm & { readonly [vmBrand]: R["name"]; readonly role: R } & ProvidedOf<R>;

export type BalancePolicy = "round-robin" | "least-request" | "consistent-hash" | "random";

export interface BalanceOptions {
  readonly policy?: BalancePolicy;
  /** Name of the pool (and of the balancer in status and graphs). */
  readonly name?: string;
}

/** True when T is a union of two or more types. */
type IsUnion<T, U = T> = T extends unknown ? ([U] extends [T] ? false : true) : never;

/**
 * Endpoints of exactly one contract. A list mixing contracts is refused: TypeScript infers C from one
 * of the list's contracts and reports the endpoints of the others (TS2322 on an array literal's element,
 * TS2345 on a list built beforehand); a C given as a union (`balance<A | B>(...)`) makes the parameter
 * `never`. A list of one contract (`replicas.map((r) => r.api)`) is taken as is. See
 * test/types/fail/balance-*.ts.
 */
export type SameContract<C extends AnyContract> = true extends IsUnion<C> ? never : readonly Endpoint<C>[];

/** Turns a union into the intersection of its members (A | B -> A & B). */
type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;

/** The last member of a union (which one is the compiler's choice; only used to take a union apart). */
type LastOf<U> = UnionToIntersection<U extends unknown ? () => U : never> extends () => infer L ? L : never;

/** The members of a union of strings as a tuple, in no particular order. */
type UnionToTuple<U, Last = LastOf<U>> = [U] extends [never] ? [] : [...UnionToTuple<Exclude<U, Last>>, Last];

/** Characters of contract ids ("name@version", and "route(a+b)" for nested routes), in code-unit order. */
type IdAlphabet = "()+-0123456789@abcdefghijklmnopqrstuvwxyz";
type CharBefore<A extends string, B extends string> = IdAlphabet extends `${string}${A}${string}${B}${string}` ? true : false;
/** A < B in code-unit order, as Array.prototype.sort compares strings. */
type StringBefore<A extends string, B extends string> = A extends `${infer A0}${infer AR}`
  ? B extends `${infer B0}${infer BR}`
    ? A0 extends B0
      ? StringBefore<AR, BR>
      : CharBefore<A0, B0>
    : false
  : B extends "" ? false : true;
type Insert<X extends string, Sorted extends string[]> = Sorted extends [infer H extends string, ...infer T extends string[]]
  ? StringBefore<X, H> extends true ? [X, ...Sorted] : [H, ...Insert<X, T>]
  : [X];
type Sort<T extends string[], Acc extends string[] = []> = T extends [infer H extends string, ...infer R extends string[]] ? Sort<R, Insert<H, Acc>> : Acc;
type Join<T extends string[]> = T extends [infer H extends string] ? H : T extends [infer H extends string, ...infer R extends string[]] ? `${H}+${Join<R>}` : "";
/** A union of ids as one string: sorted, joined by "+". */
type JoinIds<U extends string> = UnionToTuple<U> extends infer T extends string[] ? Join<Sort<T>> : never;

/** The contracts behind routed endpoints, by prefix. */
export type PartContracts<Parts extends { readonly [prefix: string]: AnyEndpoint }> = { readonly [P in keyof Parts]: Parts[P]["contract"] };

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
  | { readonly type: "pool-changed"; readonly pool: string; readonly backends: readonly string[] };

export interface Farm {
  readonly name: string;
  /** Creates and starts one VM of `role`, wired to exactly the imports the role requires. */
  vm<R extends AnyRole>(role: R, imports: ImportsOf<R>): Promise<Vm<R>>;
  /** n VMs of one role, wired alike. */
  replicate<R extends AnyRole>(n: number, role: R, imports: ImportsOf<R>): Promise<Vm<R>[]>;
  /** A balancer in front of endpoints of one contract; returns its endpoint, of that contract. */
  balance<C extends AnyContract>(endpoints: SameContract<C>, options?: BalanceOptions): Promise<Endpoint<C>>;
  /**
   * One front endpoint in front of several, by path prefix: a request whose path starts with a prefix
   * goes to that prefix's endpoint. Its contract offers the operations of every routed contract, under
   * its own id ("route(orders@1+payments@1)"), so it is never taken for one of the parts.
   */
  route<const Parts extends { readonly [prefix: string]: AnyEndpoint }>(parts: Parts): Promise<Endpoint<RoutedContract<PartContracts<Parts>>>>;
  /** Traffic to `primary`, or to `backup` while `primary` is down. */
  failover<C extends AnyContract>(primary: Endpoint<C>, backup: Endpoint<C>): Promise<Endpoint<C>>;
  /**
   * Points a running VM's import at another endpoint of the same contract. The VM leaves its
   * balancers, is stopped, rewired and started again (a process takes its imports at start), and
   * rejoins them. It is the same VM, normally on the same address; the handle returned is the one to
   * use from then on, and should the address change, VMs that import it directly follow.
   */
  rewire<R extends AnyRole, K extends keyof R["requires"] & string>(vm: Vm<R>, importName: K, to: Endpoint<R["requires"][K]>): Promise<Vm<R>>;
  /**
   * Keeps the VMs of `vms` alive: a failed one leaves every balancer at once, is started again (or,
   * when that fails, replaced by a VM of the same name) with backoff, and rejoins its balancers; VMs
   * and routers that import it directly follow a replacement to its new address.
   */
  heal(vms: readonly AnyVm[]): void;
  /** Typed stream of what happens in the farm. */
  on(listener: (event: FarmEvent) => void): () => void;
  /** Stops and destroys everything this farm created. */
  teardown(): Promise<void>;
}
