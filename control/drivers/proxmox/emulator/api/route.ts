// A route of the emulated API: a method and a path pattern (after /api2/json), the parameters it
// accepts, and its handler, whose return value is the answer's `data`.

import type { Params } from "./params.ts";

export interface RouteContext {
  readonly method: string;
  /** The path after /api2/json. */
  readonly path: string;
  readonly params: Params;
  /** The pattern's match on the path (its groups: node, VMID...). */
  readonly match: RegExpExecArray;
  /** Who is calling (for a token: its user), as tasks record it. */
  readonly user: string;
}

export interface Route {
  readonly method: "GET" | "POST" | "PUT" | "DELETE";
  readonly pattern: RegExp;
  /** The parameters it accepts (besides those in the path); undefined: the handler checks them. */
  readonly params?: readonly string[];
  /** Answered without authentication (logging in). */
  readonly public?: boolean;
  readonly handler: (ctx: RouteContext) => unknown;
}

/** The pattern of a path under one VM: groups 1 and 2 are the node and the VMID. */
export const vmPath = (rest: string): RegExp => new RegExp(`^/nodes/([^/]+)/qemu/(\\d+)${rest}$`);
