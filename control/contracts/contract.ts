// Contracts: what a typed endpoint speaks. A contract is a named, versioned set of operations, each an
// HTTP method and path with a request and a response schema. The schemas are TypeBox, which gives both
// the static type (Static<typeof S>) and JSON Schema that travels in image manifests and validates at
// run time, from one definition.

import type { Static, TSchema } from "typebox";

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface Operation<Req extends TSchema = TSchema, Res extends TSchema = TSchema> {
  readonly method: HttpMethod;
  /** Path on the service, starting with "/". */
  readonly path: string;
  /** Schema of the request body (GET and DELETE take none: use Type.Null() or Type.Undefined()). */
  readonly request: Req;
  readonly response: Res;
}

export type Operations = { readonly [name: string]: Operation };

/**
 * A contract. Its `id` is "name@version" as a literal type, so two contracts never mix by accident:
 * not when their operations look alike, not when only their versions differ.
 */
export interface Contract<Id extends string = string, Ops extends Operations = Operations> {
  readonly kind: "contract";
  readonly id: Id;
  readonly name: string;
  readonly version: number;
  readonly operations: Ops;
}

export type AnyContract = Contract<string, Operations>;

export type RequestOf<C extends AnyContract, Op extends keyof C["operations"]> = Static<C["operations"][Op]["request"]>;
export type ResponseOf<C extends AnyContract, Op extends keyof C["operations"]> = Static<C["operations"][Op]["response"]>;

const ID = /^([a-z][a-z0-9-]{0,62})@([1-9][0-9]{0,5})$/;
const PATH = /^\/[A-Za-z0-9._~\-/{}]*$/;

/** `contract("orders@1", { place: { method: "POST", path: "/orders", request, response } })`. */
export function contract<const Id extends `${string}@${number}`, const Ops extends Operations>(id: Id, operations: Ops): Contract<Id, Ops> {
  const match = ID.exec(id);
  if (match === null) throw new TypeError(`contract id ${JSON.stringify(id)}: expected "name@version", e.g. "orders@1"`);
  const seen = new Set<string>();
  for (const [name, op] of Object.entries(operations)) {
    if (!PATH.test(op.path)) throw new TypeError(`contract ${id}: operation ${name}: path ${JSON.stringify(op.path)} must start with "/"`);
    const key = `${op.method} ${op.path}`;
    if (seen.has(key)) throw new TypeError(`contract ${id}: operation ${name}: ${key} is used twice`);
    seen.add(key);
  }
  return Object.freeze({ kind: "contract", id, name: match[1], version: Number(match[2]), operations });
}
