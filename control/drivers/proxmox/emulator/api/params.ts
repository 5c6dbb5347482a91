// Parameters as pveproxy reads them: query and body merged into strings, each checked against its
// type, with Proxmox's wording for what is wrong.

import { paramError } from "../errors.ts";

export type Params = Readonly<Record<string, string>>;

/** Query and body parameters as one table of strings (JSON bodies give booleans and numbers too). */
export function mergeParams(query: Readonly<Record<string, string>>, body: Readonly<Record<string, unknown>>): Record<string, string> {
  const params: Record<string, string> = { ...query };
  for (const [k, v] of Object.entries(body)) if (v !== null && v !== undefined) params[k] = stringify(v);
  return params;
}

const stringify = (v: unknown): string =>
  typeof v === "boolean" ? (v ? "1" : "0") : typeof v === "string" ? v : typeof v === "number" ? String(v) : JSON.stringify(v);

export function intParam(params: Params, name: string, min: number, max: number, required: true): number;
export function intParam(params: Params, name: string, min: number, max: number, required: false): number | undefined;
export function intParam(params: Params, name: string, min: number, max: number, required: boolean): number | undefined {
  const v = params[name];
  if (v === undefined || v === "") {
    if (required) throw paramError({ [name]: "property is missing and it is not optional" });
    return undefined;
  }
  if (!/^-?\d+$/.test(v)) throw paramError({ [name]: `type check ('integer') failed - got '${v}'` });
  const n = Number(v);
  if (n < min) throw paramError({ [name]: `value must have a minimum value of ${min}` });
  if (n > max) throw paramError({ [name]: `value may not exceed ${max}` });
  return n;
}

/** A boolean parameter (1/0, true/false, on/off, yes/no); absent is false. */
export function boolParam(params: Params, name: string): boolean {
  const v = params[name]?.toLowerCase();
  if (v !== undefined && !/^(0|1|true|false|on|off|yes|no)$/.test(v)) {
    throw paramError({ [name]: `type check ('boolean') failed - got '${params[name]}'` });
  }
  return v === "1" || v === "true" || v === "on" || v === "yes";
}

/** A parameter naming a cluster node. */
export function nodeParam(params: Params, name: string, nodes: ReadonlyMap<string, unknown>): string | undefined {
  const v = params[name];
  if (v === undefined) return undefined;
  if (!nodes.has(v)) throw paramError({ [name]: `no such cluster node '${v}'` });
  return v;
}
