// What the combinators' types refuse beyond "this endpoint serves that contract": imports that are not
// exactly a role's however they were built (a variable, a spread, anything given to a role that
// requires nothing), a contract that is not one contract the type checker knows (a union, a general
// `Contract`, `any`, none at all), route prefixes that are not paths, several import names given to
// `rewire` at once, a replica count that is no positive whole number. A refusal reads as a sentence in
// the compiler's message, starting "farmhand:", and none of them stands in the way of generic code
// (see Refuse). Types only: nothing here exists at run time.

import type { AnyContract, AnyRole, Endpoint, ImportsOf } from "../contracts/index.ts";
import type { Vm } from "./farm.ts";

// ---- the gadget ---------------------------------------------------------------------------------

type Sieve<Bad> = Bad extends true ? string : never;
type Verdict<Probe, Bad> = [Probe] extends [Sieve<Bad>] ? "refused" : "accepted";

/**
 * `OK` when `Bad` is false and `Refusal` when it is true, for concrete types; and `OK` while `Bad`
 * cannot be decided because it depends on a type parameter, as in a helper
 * `<C extends AnyContract>(eps: readonly Endpoint<C>[]) => farm.balance(eps)`.
 *
 * Concretely: for Bad = true the Sieve is `string`; the first Verdict is "refused" ("" is a string),
 * the second "accepted" ("" | 0 is not), and "refused" is no "accepted": Refusal. For Bad = false the
 * Sieve is never, both Verdicts are "accepted": OK. While Bad is generic, both Verdicts stay deferred,
 * and TypeScript relates two deferred conditional types with the same extends type when their check
 * types and their branches are related ([""] to ["" | 0], "refused" to "refused", "accepted" to
 * "accepted"): it finds the condition true for every instantiation and checks the argument against OK
 * alone. A plain `Bad extends true ? Refusal : OK` would make it check both branches, and refuse the
 * helper; its callers are checked where their types are concrete. (Bad as the compiler's error type,
 * after a mistake it reported elsewhere, makes both Verdicts "refused": OK, not a second report.)
 */
export type Refuse<Bad, OK, Refusal> = Verdict<"", Bad> extends Verdict<"" | 0, Bad> ? OK : Refusal;

/**
 * True when a union of problem descriptions holds one. A type the compiler could not work out (a
 * misspelt name, reported where it is) makes every conditional type it reaches its error type, an
 * `any`: that is passed on, and Refuse takes it for OK, so one mistake is not reported twice.
 */
type Any<Problems> = IsAny<Problems> extends true ? false : [Problems] extends [never] ? false : true;

/** An object type that only an object with these (impossible) properties would satisfy: how a refusal is spelt out. */
export type Refusals<Reasons extends string> = [Reasons] extends [never] ? unknown : { readonly [Reason in Reasons]: never };

// ---- small type tools --------------------------------------------------------------------------

export type IsAny<T> = 0 extends 1 & T ? true : false;

/** True when T is a union of two or more types (boolean for a union: test with `true extends`). */
export type IsUnion<T, U = T> = T extends unknown ? ([U] extends [T] ? false : true) : never;

/** Turns a union into the intersection of its members (A | B -> A & B). */
export type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;

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
type Join<T extends string[], Sep extends string> = T extends [infer H extends string] ? H : T extends [infer H extends string, ...infer R extends string[]] ? `${H}${Sep}${Join<R, Sep>}` : "";
/** A union of ids as one string: sorted, joined by Sep ("+" in a routed contract's id). */
export type JoinIds<U extends string, Sep extends string = "+"> = UnionToTuple<U> extends infer T extends string[] ? Join<Sort<T>, Sep> : never;

/** True for one string literal: not `string`, not a pattern such as `${string}@1`, not a union, not never. */
type IsOneLiteral<S> = [S] extends [never] ? false : true extends IsUnion<S> ? false : {} extends Record<S & string, 0> ? false : true;

// ---- contracts -----------------------------------------------------------------------------------

/**
 * What keeps C from being one contract the type checker knows, in words ("is one of several (a@1,
 * b@1)"), or never when it is one. Contracts are told apart by id alone, so the same contract generated
 * into two environments is one contract.
 */
export type ContractProblem<C> =
  IsAny<C> extends true ? "is typed any, so it is not checked"
  : [C] extends [never] ? "is not known: no endpoints, endpoints typed any, or endpoints merged into one"
  : [C] extends [AnyContract] ? KnownContractProblem<C>
  : "is no contract";

type KnownContractProblem<C extends AnyContract> =
  string extends C["id"] ? "is not known to the type checker (typed Endpoint, or with a general Contract)"
  : true extends IsUnion<C["id"]> ? `is one of several (${JoinIds<C["id"], ", ">})`
  : IsOneLiteral<C["id"]> extends true ? never
  : `is not one known contract (${C["id"]})`;

/** Endpoints of exactly one contract the type checker knows, or a sentence saying why not. */
export type OneContract<C, Who extends string, OK> = Refuse<
  Any<ContractProblem<C>>,
  OK,
  `farmhand: ${Who}: the contract ${ContractProblem<C>}; it must be one contract`
>;

/**
 * One end of a failover: an endpoint of contract C, one contract the type checker knows. E is the
 * end's own type, inferred so that an end typed `any` (a helper's fallback overload) is seen, where C
 * alone would be inferred from the other end and let it through. An end of type never (two endpoints
 * merged into one) is accepted by any parameter, so it is refused at the other end, `Other`.
 */
export type FailoverEnd<C, E, Other> = Refuse<
  Any<ContractProblem<C>> extends true ? true
  : IsAny<E> extends true ? true
  : [Other] extends [never] ? true
  : [E] extends [Endpoint<C>] ? false : true,
  Endpoint<C> & E,
  IsAny<E> extends true ? never
  : Any<ContractProblem<C>> extends true ? `farmhand: failover: the contract ${ContractProblem<C>}; primary and backup serve one contract`
  : [Other] extends [never] ? "farmhand: failover: the other end has type never (endpoints merged into one?)"
  : Endpoint<C>
>;

// ---- imports --------------------------------------------------------------------------------------

/** What is wrong with the value given for one import, or never. */
type ImportValueProblem<K extends string, V> =
  IsAny<V> extends true ? `farmhand: import ${K} is typed any, so its contract is not checked`
  : [V] extends [never] ? `farmhand: import ${K} has type never (endpoints merged into one?)`
  : V extends PromiseLike<unknown> ? `farmhand: import ${K} is a Promise: await it`
  : never;

/** Problems with imports I for one role R (not a union), as sentences. */
type RoleImportProblems<R extends AnyRole, I> =
  string extends R["name"] | keyof R["requires"] ? "farmhand: the role's imports are not known to the type checker (typed AnyRole, or a general Role)"
  : {
      [K in keyof I]-?: K extends string
        ? string extends K ? "farmhand: the imports' names are not known to the type checker (a Record?)"
          : K extends keyof R["requires"] ? ImportValueProblem<K, I[K]>
          : `farmhand: role ${R["name"]} does not import ${K}`
        // A numeric key is an import name at run time ("0"), never one a role declares.
        : K extends number ? `farmhand: role ${R["name"]} does not import ${K}`
        : never;
    }[keyof I];

/** The members of R whose imports I does not fit. */
type Misfits<R extends AnyRole, I> = R extends AnyRole ? ([I] extends [ImportsOf<R>] ? never : R) : never;

/**
 * Problems with imports I for role R, for every role R may be (a role chosen by a condition, a loop
 * over roles). For one role, imports that do not fit are left to the compiler's own errors at the
 * import; for a union of roles, whose common imports are all the compiler checks, each role they do not
 * fit is named.
 */
export type ImportProblems<R extends AnyRole, I> =
  IsAny<I> extends true ? "farmhand: the imports are typed any, so they are not checked"
  : IsAny<R> extends true ? "farmhand: the role is typed any, so its imports are not checked"
  : [I] extends [readonly unknown[]] ? "farmhand: the imports are a list; they are an object of endpoints by import name ({} for none)"
  : [I] extends [{ readonly contract: AnyContract; readonly url: string }] ? "farmhand: the imports are one endpoint; they are an object of endpoints by import name ({ name: endpoint })"
  : [I] extends [object] ? ImportsOfRoles<R, I>
  : "farmhand: the imports are no object; they are an object of endpoints by import name ({} for none)";

type ImportsOfRoles<R extends AnyRole, I> =
  | (R extends AnyRole ? RoleImportProblems<R, I> : never)
  | (true extends IsUnion<R["name"]> ? (Misfits<R, I> extends infer M extends AnyRole ? (M extends AnyRole ? `farmhand: the imports do not fit role ${M["name"]}` : never) : never) : never);

/**
 * Exactly the imports of role R, however the object was built. When I (what was given) is right, the
 * parameter is the role's imports; when it is not, it is the role's imports plus an impossible
 * property per problem, named by a sentence ("farmhand: role orders does not import audit"), which an
 * object built beforehand or spread cannot have. The extra imports themselves are not in that type, so
 * an object literal gets the compiler's usual "may only specify known properties" at the extra import,
 * and a wrong or missing one its usual error at the import.
 */
export type ExactImports<R extends AnyRole, I> = Refuse<
  Any<ImportProblems<R, I> | Misfits<R, I>>,
  ImportsOf<R> & I,
  IsAny<I> extends true ? never : ImportsOf<R> & Refusals<ImportProblems<R, I>>
>;

// ---- replicate -------------------------------------------------------------------------------------

/** Each member of a union of counts (`cond ? 0 : 2`) on its own: one that may be 0 is refused. */
type CountProblem<N extends number> =
  number extends N ? never
  : N extends unknown
    ? `${N}` extends `-${string}` | `${string}.${string}` | "0" | "NaN" | "Infinity" | `${string}e${string}` ? `farmhand: replicate: ${N} is no positive whole number of replicas`
    : never
  : never;

/** A replica count: a positive whole number (a count only known at run time is checked then). */
export type Count<N extends number> = Refuse<Any<CountProblem<N>>, N, CountProblem<N>>;

// ---- autoscale ------------------------------------------------------------------------------------

type GroupProblem<R extends AnyRole> =
  IsAny<R> extends true ? "the group's role is typed any"
  : string extends R["name"] ? "the group's role is not known to the type checker (a Vm<AnyRole>[]?); a group is replicas of one role"
  : true extends IsUnion<R["name"]> ? `the group mixes roles (${JoinIds<R["name"], ", ">}); a group is replicas of one role`
  : never;

/** The VMs `autoscale` resizes: replicas of one role the type checker knows, so that a policy can be held to it. */
export type AutoscaleGroup<R extends AnyRole> = Refuse<Any<GroupProblem<R>>, readonly Vm<R>[], `farmhand: autoscale: ${GroupProblem<R>}`>;

// ---- route ------------------------------------------------------------------------------------------

type DotSegment = `${string}/.` | `${string}/..` | `${string}/./${string}` | `${string}/../${string}`;

/**
 * What a route prefix may hold after its "/": what the balancer's router accepts (ROUTE_PREFIX in
 * native-free-core/config.ts), which the run against the plan checks with that very pattern.
 */
type PrefixChar =
  | "A" | "B" | "C" | "D" | "E" | "F" | "G" | "H" | "I" | "J" | "K" | "L" | "M" | "N" | "O" | "P" | "Q" | "R" | "S" | "T" | "U" | "V" | "W" | "X" | "Y" | "Z"
  | "a" | "b" | "c" | "d" | "e" | "f" | "g" | "h" | "i" | "j" | "k" | "l" | "m" | "n" | "o" | "p" | "q" | "r" | "s" | "t" | "u" | "v" | "w" | "x" | "y" | "z"
  | "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9"
  | "!" | "$" | "%" | "&" | "'" | "(" | ")" | "*" | "+" | "," | "-" | "." | "/" | ":" | ";" | "=" | "@" | "_" | "~";

/** The first character of S that no route prefix may hold, or never. */
type FirstNonPrefixChar<S extends string> = S extends `${infer C}${infer Rest}` ? (C extends PrefixChar ? FirstNonPrefixChar<Rest> : C) : never;

/** What is wrong with one route prefix, or never (the run against the plan says the same, in this order). */
type PrefixProblem<K extends string> =
  K extends `/${string}`
    ? K extends DotSegment ? `farmhand: route prefix "${K}" has a "." or ".." segment`
      : [FirstNonPrefixChar<K>] extends [never] ? never
      : `farmhand: route prefix "${K}" holds "${FirstNonPrefixChar<K>}": after its "/", a prefix holds only letters, digits and !$%&'()*+,-./:;=@_~`
    : `farmhand: route prefix "${K}" is not a path: a prefix starts with "/"`;

/** What is wrong with one routed part, or never. */
type PartProblem<K extends string, E> =
  IsAny<E> extends true ? `farmhand: route part "${K}" is typed any, so its contract is not checked`
  : [E] extends [never] ? `farmhand: route part "${K}" has type never (endpoints merged into one?)`
  : [E] extends [{ readonly contract: AnyContract }]
    ? [ContractProblem<E["contract"]>] extends [never] ? never : `farmhand: route part "${K}": its contract ${ContractProblem<E["contract"]>}`
    : never;

export type RouteProblems<Parts> =
  IsAny<Parts> extends true ? "farmhand: route: the parts are typed any, so they are not checked"
  : [keyof Parts] extends [never] ? "farmhand: route needs at least one path prefix"
  : {
      [K in keyof Parts]-?: K extends string
        ? string extends K ? "farmhand: route: the prefixes are not known to the type checker (a Record?)" : PrefixProblem<K> | PartProblem<K, Parts[K]>
        : "farmhand: route: a prefix is a path, a string starting with /";
    }[keyof Parts];

/** Parts of a route: at least one, each under a path prefix, each of one contract the type checker knows. */
export type RouteParts<Parts> = Refuse<Any<RouteProblems<Parts>>, Parts, IsAny<Parts> extends true ? never : Parts & Refusals<RouteProblems<Parts>>>;

// ---- rewire -----------------------------------------------------------------------------------------

/**
 * Several import names at once (a loop over names) are fine when they want one contract: then the
 * endpoint is checked against it; of several contracts, it would be checked against none of them.
 */
type RewireProblems<R extends AnyRole, K extends keyof R["requires"] & string, To> =
  IsAny<R> extends true ? "farmhand: rewire: the VM's role is typed any"
  : string extends R["name"] ? "farmhand: rewire: the VM's role is not known to the type checker (a Vm<AnyRole>?)"
  : true extends IsUnion<R["name"]> ? `farmhand: rewire: the VM is of one of several roles (${JoinIds<R["name"], ", ">})`
  : [K] extends [never] ? never
  : string extends K ? "farmhand: rewire: the import's name is not known to the type checker"
  : true extends IsUnion<R["requires"][K]["id"]> ? `farmhand: rewire: one import at a time, or imports of one contract (got ${JoinIds<K, ", ">})`
  : [To] extends [never] ? "farmhand: rewire: the endpoint has type never (endpoints merged into one?)"
  : To extends PromiseLike<unknown> ? "farmhand: rewire: the endpoint is a Promise: await it"
  : never;

/**
 * The endpoint `rewire` points import K of a VM of role R at: of the import's contract, for one import
 * of one known role. The endpoint's own type To is inferred so that `any` and merged endpoints are seen.
 */
export type RewireTarget<R extends AnyRole, K extends keyof R["requires"] & string, To> = Refuse<
  Any<RewireProblems<R, K, To>> extends true ? true : IsAny<To> extends true ? true : [To] extends [Endpoint<R["requires"][K]>] ? false : true,
  Endpoint<R["requires"][K]> & To,
  IsAny<To> extends true ? never : [RewireProblems<R, K, To>] extends [never] ? Endpoint<R["requires"][K]> : RewireProblems<R, K, To>
>;
