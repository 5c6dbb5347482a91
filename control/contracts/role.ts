// Roles: what a server image is for. A role names the contracts its image provides (under endpoint
// names) and the contracts it requires (under import names). The combinators are typed against
// roles, so a script that wires a VM wrongly does not compile.

import type { AnyContract } from "./contract.ts";
import type { Endpoint } from "./endpoint.ts";

export type Contracts = { readonly [name: string]: AnyContract };

/** Names a VM handle uses itself; a provided endpoint may not take them. */
export type ReservedName = "id" | "role" | "name" | "address" | "labels";
const RESERVED = new Set<string>(["id", "role", "name", "address", "labels"]);

export interface Role<Name extends string = string, P extends Contracts = Contracts, R extends Contracts = Contracts> {
  readonly kind: "role";
  readonly name: Name;
  readonly provides: P;
  readonly requires: R;
  /** The image the role runs: a folder with a farmhand manifest (local driver) or a template name (Proxmox). */
  readonly image: string;
}

export type AnyRole = Role<string, Contracts, Contracts>;

/** Exactly the imports a role requires: one endpoint of the required contract per import name. */
export type ImportsOf<R extends AnyRole> = { readonly [K in keyof R["requires"]]: Endpoint<R["requires"][K]> };

/** The endpoints a VM of a role provides. */
export type ProvidedOf<R extends AnyRole> = { readonly [K in keyof R["provides"]]: Endpoint<R["provides"][K]> };

const NAME = /^[a-z][a-z0-9-]{0,40}$/;

/**
 * Where each role was made: its role() call's stack, kept unformatted (V8 formats a stack when it is
 * first read), so that `farmhand check` can point at the role when its image's metadata disagrees.
 */
const sites = new WeakMap<object, Error>();

/** The stack of the role() call that made `r`, if role() made it. */
export function roleSite(r: AnyRole): string | undefined {
  return sites.get(r)?.stack;
}

export function role<
  const Name extends string,
  const P extends Contracts & { readonly [K in ReservedName]?: never },
  const R extends Contracts,
>(name: Name, spec: { readonly provides: P; readonly requires: R; readonly image: string }): Role<Name, P, R> {
  if (!NAME.test(name)) throw new TypeError(`role name ${JSON.stringify(name)}: lower-case letters, digits and "-", starting with a letter`);
  for (const key of Object.keys(spec.provides)) {
    if (RESERVED.has(key)) throw new TypeError(`role ${name}: provided endpoint name ${JSON.stringify(key)} is reserved`);
  }
  const made: Role<Name, P, R> = Object.freeze({ kind: "role", name, provides: spec.provides, requires: spec.requires, image: spec.image });
  sites.set(made, new Error("role defined here"));
  return made;
}
