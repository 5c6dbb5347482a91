// Endpoints: where a contract is served. An Endpoint<C> is branded with its contract's identity (a
// literal "name@version" type), so the type checker refuses to pass an endpoint where another
// contract, or another version of the same one, is required.

import type { AnyContract } from "./contract.ts";

declare const contractBrand: unique symbol;

export interface Endpoint<C extends AnyContract = AnyContract> {
  /** Never present at run time: carries the contract's identity for the type checker only. */
  readonly [contractBrand]: C["id"];
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
