// Endpoints: where a contract is served. An Endpoint<C> is branded with its contract's identity (a
// literal "name@version" type), so the type checker refuses to pass an endpoint where another
// contract, or another version of the same one, is required.

import type { AnyContract } from "./contract.ts";

/**
 * The brand, for the type checker only: no such class exists at run time. It is a class's #private
 * field because that is what nothing else can carry: a hand-written object literal cannot name it, and
 * a spread (`{ ...e, url }`) drops it, so an endpoint copied with another URL is no endpoint.
 */
declare class ContractBrand<Id extends string> {
  #contract: Id;
}

/** The id of a contract type (of each, for a union), or never for what is no contract. */
type IdOf<C> = C extends { readonly id: infer Id extends string } ? Id : never;

/**
 * An endpoint of contract C. C is not constrained to a contract, so that a generic helper
 * `<C>(eps: readonly Endpoint<C>[]) => farm.balance(eps)` can be written as such; the combinators
 * refuse what is not one known contract.
 */
export interface Endpoint<C = AnyContract> extends ContractBrand<IdOf<C>> {
  readonly contract: C;
  /** Base URL, e.g. "http://127.0.1.2:8080". */
  readonly url: string;
  /** Who serves it, for status and graphs, e.g. "orders-2.api" or "balancer orders". */
  readonly label: string;
}

export type AnyEndpoint = Endpoint<AnyContract>;

/** Makes an endpoint. The farm and drivers call this; scripts receive endpoints, never build them. */
export function endpoint<C extends AnyContract>(contract: C, url: string, label: string): Endpoint<C> {
  return Object.freeze({ contract, url, label }) as unknown as Endpoint<C>;
}
